import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../src/lib/json-inspect.ts';
import { expectProblem } from './helpers/problem.ts';
import { callTestApp, postJson } from './helpers/test-app.ts';
import { callWorker } from './helpers/worker.ts';

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let level = 0; level < depth; level += 1) value = { level: value };
  return value;
}

describe('every error is an RFC 9457 problem with the request id', () => {
  it('unknown path: 404', async () => {
    const response = await callWorker('/v1/nothing-here');
    const problem = await expectProblem(response, 404, 'not_found', '/v1/nothing-here');
    expect(problem.detail).toBe('No route matches GET /v1/nothing-here.');
  });

  it('wrong method: 405 with Allow', async () => {
    const response = await callWorker('/health', { method: 'DELETE' });
    expect(response.headers.get('Allow')).toBe('GET, HEAD');
    await expectProblem(response, 405, 'method_not_allowed', '/health');
  });

  it('OPTIONS that is not a CORS preflight: 405 with Allow, not an empty 204', async () => {
    const response = await callWorker('/ready', { method: 'OPTIONS' });
    expect(response.headers.get('Allow')).toBe('GET, HEAD');
    await expectProblem(response, 405, 'method_not_allowed');
  });

  it('wrong method with a body still gets 405, whatever the body holds', async () => {
    const response = await callWorker('/health', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{not json' });
    await expectProblem(response, 405, 'method_not_allowed');
  });

  it('validation: one entry per invalid field, with location and JSON pointer', async () => {
    const response = await postJson('/test/echo', JSON.stringify({ name: '', count: 11, extra: true, nested: { a: 1 } }));
    const problem = await expectProblem(response, 400, 'validation_failed', '/test/echo');
    expect(problem.errors).toHaveLength(3);
    expect(problem.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ location: 'body', pointer: '/name', code: 'too_small' }),
        expect.objectContaining({ location: 'body', pointer: '/count', code: 'too_big' }),
        { location: 'body', pointer: '/extra', detail: 'Unknown field', code: 'unknown_field' },
      ]),
    );
    expect(problem.detail).toContain('body/count');
  });

  it('a valid body passes the same route', async () => {
    const response = await postJson('/test/echo', JSON.stringify({ name: 'ok', count: 3 }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ name: 'ok', count: 3 });
  });

  it('malformed JSON: 400', async () => {
    const response = await postJson('/test/echo', '{"name": "a", ');
    const problem = await expectProblem(response, 400, 'malformed_json');
    expect(problem.detail).toMatch(/^The request body is not valid JSON/);
  });

  it('a missing body on a route that needs one: 400', async () => {
    const response = await postJson('/test/echo', '');
    await expectProblem(response, 400, 'malformed_request');
  });

  it('wrong content type: 415', async () => {
    const response = await callTestApp('/test/echo', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'name=a' });
    await expectProblem(response, 415, 'unsupported_media_type');
  });

  it('no body at all on a route that needs one: 400, not an empty object', async () => {
    const response = await callTestApp('/test/echo', { method: 'POST' });
    const problem = await expectProblem(response, 400, 'malformed_request');
    expect(problem.detail).toBe('This operation needs a JSON request body.');
  });

  it('a body with no content type: 415', async () => {
    const response = await callTestApp('/test/echo', {
      method: 'POST',
      body: new Blob([new TextEncoder().encode('{"name":"a","count":1}')]),
    });
    await expectProblem(response, 415, 'unsupported_media_type');
  });

  it('too large (Content-Length over 10 MB): 413', async () => {
    const body = `{"name":"${'a'.repeat(10 * 1024 * 1024)}","count":1}`;
    const response = await postJson('/test/echo', body);
    const problem = await expectProblem(response, 413, 'payload_too_large');
    expect(problem.detail).toBe('The request body must not exceed 10485760 bytes.');
  });

  it('too large without Content-Length (streamed): 413', async () => {
    const chunk = new TextEncoder().encode('a'.repeat(1024 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 11) return controller.close();
        controller.enqueue(sent === 0 ? new TextEncoder().encode('{"name":"') : chunk);
        sent += 1;
      },
    });
    const response = await callTestApp('/test/echo', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      body: stream,
      // @ts-expect-error -- `duplex` is required by fetch for streamed bodies but missing from the RequestInit type
      duplex: 'half',
    });
    await expectProblem(response, 413, 'payload_too_large');
  });

  it(`JSON nested ${MAX_JSON_DEPTH} levels passes the limit, ${MAX_JSON_DEPTH + 1} does not`, async () => {
    // The body's own object is level 1, so `nested` may hold MAX_JSON_DEPTH - 1 levels.
    const atLimit = await postJson('/test/echo', JSON.stringify({ name: 'a', count: 1, nested: nested(MAX_JSON_DEPTH - 1) }));
    expect(atLimit.status).toBe(200);
    const tooDeep = await postJson('/test/echo', JSON.stringify({ name: 'a', count: 1, nested: nested(MAX_JSON_DEPTH) }));
    const problem = await expectProblem(tooDeep, 400, 'json_too_deep');
    expect(problem.errors?.[0]?.pointer).toBe(`/nested${'/level'.repeat(MAX_JSON_DEPTH - 1)}`);
  });

  it('very deep JSON (100,000 levels) is refused without exhausting the stack', async () => {
    const response = await postJson('/test/echo', `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    await expectProblem(response, 400, 'json_too_deep');
  });

  it('NUL in a string value: 400 naming the field', async () => {
    const response = await postJson('/test/echo', '{"name":"a\\u0000b","count":1}');
    const problem = await expectProblem(response, 400, 'invalid_characters');
    expect(problem.errors).toEqual([
      { location: 'body', pointer: '/name', detail: 'Contains a NUL character', code: 'invalid_characters' },
    ]);
  });

  it('NUL in an object key: 400', async () => {
    const response = await postJson('/test/echo', '{"name":"a","count":1,"nested":{"k\\u0000":1}}');
    await expectProblem(response, 400, 'invalid_characters');
  });

  it('NUL in the query string or path: 400', async () => {
    await expectProblem(await callWorker('/health?x=%00'), 400, 'invalid_characters');
    await expectProblem(await callWorker('/hea%00lth'), 400, 'invalid_characters');
  });

  it('broken percent-encoding in the URL: 400', async () => {
    await expectProblem(await callWorker('/health?x=%E0%A4%A'), 400, 'malformed_request');
  });

  it('unexpected exception: 500 with no stack, SQL or internal message', async () => {
    const response = await callTestApp('/test/boom');
    const text = await response.clone().text();
    const problem = await expectProblem(response, 500, 'internal_error', '/test/boom');
    expect(problem.detail).toBe('An unexpected error occurred. Quote the request id when reporting it.');
    expect(text).not.toContain('api_keys');
    expect(text).not.toContain('sy_live');
  });
});
