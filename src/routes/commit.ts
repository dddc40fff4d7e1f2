/**
 * @module
 * The one way a handler changes data and answers: it states its D1 statements and its answer
 * once, and {@link commit} runs them as one batch (saving the answer in that batch under an
 * `atomic` Idempotency-Key: middleware/idempotency.ts), maps a constraint violation to the
 * caller's error, runs what must follow the change, and only then sets the answer's headers, so
 * an error rendered instead never carries a success's Location or ETag. A batch whose reply was lost
 * after it committed is recognised by its saved answer and finished like one that answered.
 */
import type { Context, TypedResponse } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { JSONParsed, JSONValue } from 'hono/utils/types';
import type { AppEnv } from '../context.ts';
import type { ApiError } from '../errors.ts';
import { batchChange, committedDespiteFailure, SavedResultAnswers } from '../middleware/idempotency.ts';
import { dispatchAfterCommit } from './outbox.ts';

export interface Change {
  statements: D1PreparedStatement[];
  /**
   * The change happens only if its first statement changes a row (a version or state check), and
   * every later statement depends on it (`changes()`, `EXISTS`). When it changes nothing, nothing
   * is written, no answer is saved and {@link commit} returns undefined.
   */
  conditional?: boolean;
  /** The caller's error for a constraint the change ran into (a unique value already taken); undefined rethrows. */
  conflict?: (error: unknown) => ApiError | undefined;
  /**
   * What follows the durable change before the answer: a cache forgotten, sockets closed. Under an
   * `atomic` key the answer is already saved when it runs, so such a route's `afterCommit` must not fail.
   */
  afterCommit?: () => Promise<void> | void;
}

interface JsonAnswer<T, S extends ContentfulStatusCode> {
  status: S;
  headers?: Record<string, string>;
  json: T;
}

interface EmptyAnswer {
  status: 204;
  headers?: Record<string, string>;
}

type IfMade<C extends Change, R> = C extends { conditional: true } ? R | undefined : R;

export function commit<C extends Change, T extends JSONValue | object, S extends ContentfulStatusCode>(
  c: Context<AppEnv>,
  change: C,
  answer: JsonAnswer<T, S>,
): Promise<IfMade<C, Response & TypedResponse<JSONParsed<T>, S, 'json'>>>;
export function commit<C extends Change>(
  c: Context<AppEnv>,
  change: C,
  answer: EmptyAnswer,
): Promise<IfMade<C, Response & TypedResponse<null, 204, 'body'>>>;
export async function commit(
  c: Context<AppEnv>,
  change: Change,
  answer: JsonAnswer<unknown, ContentfulStatusCode> | EmptyAnswer,
): Promise<Response | undefined> {
  const conditional = change.conditional === true;
  let results: D1Result[];
  try {
    results = await batchChange(c, change.statements, answer, conditional);
  } catch (error) {
    if (!(await committedDespiteFailure(c, error))) throw change.conflict?.(error) ?? error;
    // Only the reply was lost: what must follow the change still follows it, and the answer is the
    // one saved with it (this request's, or a concurrent duplicate's that made the change first).
    await change.afterCommit?.();
    dispatchAfterCommit(c);
    throw new SavedResultAnswers();
  }
  if (conditional && (results[0]?.meta.changes ?? 0) === 0) {
    c.set('eventInsert', undefined);
    return undefined;
  }
  await change.afterCommit?.();
  dispatchAfterCommit(c, { statements: change.statements, results });
  for (const [name, value] of Object.entries(answer.headers ?? {})) c.header(name, value);
  return 'json' in answer ? c.json(answer.json as JSONValue, answer.status) : c.body(null, answer.status);
}
