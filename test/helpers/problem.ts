import { expect } from 'vitest';
import { ProblemSchema } from '../../src/schemas/problem.ts';

/** A raw Response, or what the generated client returns (its body already parsed into `error`). */
type ProblemSource = Response | { response: Response; error?: unknown };

/**
 * Asserts that the response is an RFC 9457 problem with `status` and `code`, whose `request_id`
 * matches the `X-Request-Id` header, and returns the parsed body. The strict parse fails on any
 * member the contract does not declare.
 */
export async function expectProblem(source: ProblemSource, status: number, code: string, instance?: string) {
  const response = source instanceof Response ? source : source.response;
  const text = source instanceof Response ? await source.text() : JSON.stringify(source.error);
  expect(response.status, text).toBe(status);
  expect(response.headers.get('Content-Type')).toBe('application/problem+json');
  const body = ProblemSchema.strict().parse(JSON.parse(text));
  expect(body.status).toBe(status);
  expect(body.code).toBe(code);
  // The page the Worker serves for the code, on the host that answered (test/routes/problems/ reads them).
  expect(new URL(body.type).pathname).toBe(`/problems/${code.replaceAll('_', '-')}`);
  expect(body.request_id).toMatch(/^[\w=-]{1,128}$/);
  expect(body.request_id).toBe(response.headers.get('X-Request-Id'));
  if (instance !== undefined) expect(body.instance).toBe(instance);
  // No stack trace, SQL or internal error text ever reaches a client.
  expect(text).not.toMatch(/\bat .+:\d+:\d+|SELECT |INSERT |D1_ERROR|SQLITE|TypeError|ReferenceError/);
  return body;
}
