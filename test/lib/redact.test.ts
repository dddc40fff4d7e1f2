import { describe, expect, it } from 'vitest';
import { REDACTED, redact, redactString } from '../../src/lib/redact.ts';

describe('redact', () => {
  it.each([
    ['authorization', 'Bearer abc'],
    ['Authorization', 'Basic dXNlcjpwYXNz'],
    ['cookie', 'a=b'],
    ['set-cookie', 'a=b'],
    ['x-api-key', 'k'],
    ['apiKey', 'k'],
    ['session_token', 't'],
    ['SESSION_JWT_SECRET', 's'],
    ['password', 'p'],
    ['key', 'k'],
    ['signature', 'v1=abc'],
  ])('replaces a field named %s whole', (name, value) => {
    expect(redact({ [name]: value, keep: 'visible' })).toEqual({ [name]: REDACTED, keep: 'visible' });
  });

  it('keeps fields whose names only resemble secrets', () => {
    expect(redact({ request_id: 'req_1', route: '/v1/api-keys/:id', keys_count: 3 })).toEqual({
      request_id: 'req_1',
      route: '/v1/api-keys/:id',
      keys_count: 3,
    });
  });

  it.each([
    ['a bearer credential', 'failed with Bearer abc.def-ghi', `failed with Bearer ${REDACTED}`],
    ['an API key', 'key sy_test_0123abcdEF rejected', `key ${REDACTED} rejected`],
    ['a JWT', 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_-x here', `token ${REDACTED} here`],
    ['a secret query parameter', '/v1/x?limit=5&token=abc&next=1', `/v1/x?limit=5&token=${REDACTED}&next=1`],
    ['a key query parameter', '?api_key=zzz', `?api_key=${REDACTED}`],
  ])('scrubs %s wherever it appears in a string', (_, input, output) => {
    expect(redactString(input)).toBe(output);
  });

  it('walks nested objects, arrays, Headers and errors', () => {
    const error = new Error('Bearer abc failed', { cause: { token: 't' } });
    const result = redact({ nested: [{ authorization: 'x' }, 'sy_live_abcdef'], headers: new Headers({ Cookie: 'c=1' }), error }) as Record<
      string,
      unknown
    >;
    expect(result.nested).toEqual([{ authorization: REDACTED }, REDACTED]);
    expect(result.headers).toEqual({ cookie: REDACTED });
    expect(result.error).toMatchObject({ name: 'Error', message: `Bearer ${REDACTED} failed`, cause: { token: REDACTED } });
  });

  it('bounds cycles by depth instead of overflowing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(JSON.stringify(redact(cyclic))).toContain('[Truncated]');
  });
});
