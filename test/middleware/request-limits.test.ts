import { describe, expect, it } from 'vitest';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant } from '../helpers/tenants.ts';
import { callTestApp, postJson } from '../helpers/test-app.ts';
import { callWorker } from '../helpers/worker.ts';

const utf8 = new TextEncoder();

/** Raw body bytes: strings are encoded as UTF-8, number arrays are sent as they are. */
function bytes(...parts: Array<string | number[]>): Uint8Array {
  const chunks = parts.map((part) => (typeof part === 'string' ? utf8.encode(part) : new Uint8Array(part)));
  const out = new Uint8Array(chunks.reduce((size, chunk) => size + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function postBytes(path: string, body: Uint8Array, headers: Record<string, string> = {}) {
  return callTestApp(path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
}

describe('the JSON body has one meaning: what would be lost or read two ways is refused', () => {
  it.each([
    ['bytes that are not UTF-8 (FF FE)', bytes('{"name":"bad', [0xff, 0xfe], 'utf8","count":1}'), 12],
    ['an overlong encoding of "/" (C0 AF)', bytes('{"name":"a', [0xc0, 0xaf], '","count":1}'), 10],
    ['a UTF-16 surrogate encoded as UTF-8 (ED A0 80)', bytes('{"name":"', [0xed, 0xa0, 0x80], '","count":1}'), 9],
    ['a code point above U+10FFFF (F4 90 80 80)', bytes('{"name":"', [0xf4, 0x90, 0x80, 0x80], '","count":1}'), 9],
    ['a lone continuation byte (80)', bytes('{"name":"a","count":1', [0x80], '}'), 21],
    ['a sequence cut short at the end (E2 82)', bytes('{"name":"a","count":1}', [0xe2, 0x82]), 22],
  ])('%s: 400 invalid_encoding naming the byte, not stored as U+FFFD', async (_, body, offset) => {
    const problem = await expectProblem(await postBytes('/test/echo', body), 400, 'invalid_encoding');
    expect(problem.title).toBe('The request body is not valid UTF-8');
    expect(problem.errors).toEqual([
      { location: 'body', pointer: '', detail: `Not valid UTF-8 at byte ${offset}`, code: 'invalid_encoding' },
    ]);
  });

  it('a UTF-8 byte order mark is refused (RFC 8259 forbids sending one), not silently stripped', async () => {
    const response = await postBytes('/test/echo', bytes([0xef, 0xbb, 0xbf], '{"name":"a","count":1}'));
    const problem = await expectProblem(response, 400, 'invalid_encoding');
    expect(problem.errors).toEqual([
      { location: 'body', pointer: '', detail: 'Starts with a byte order mark (EF BB BF)', code: 'invalid_encoding' },
    ]);
  });

  it('valid multi-byte UTF-8 and escaped surrogate pairs pass verbatim', async () => {
    const response = await postBytes('/test/echo', bytes('{"name":"Zoë 中 😀 \\ud83d\\ude00","count":1}'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ name: 'Zoë 中 😀 😀', count: 1 });
  });

  it.each([
    ['a lone high surrogate in a value', '{"name":"\\ud800","count":1}', '/name'],
    ['a lone low surrogate in a value', '{"name":"x\\udc00","count":1}', '/name'],
    ['a high surrogate followed by no low one', '{"name":"\\ud83dx","count":1}', '/name'],
    ['a lone surrogate in a key', '{"name":"a","count":1,"nested":{"\\udc00x":1}}', '/nested/\udc00x'],
    ['a lone surrogate in an array item', '{"name":"a","count":1,"nested":{"list":["ok","\\ud800"]}}', '/nested/list/1'],
  ])('%s: 400 unpaired_surrogate naming the field', async (_, body, pointer) => {
    const problem = await expectProblem(await postJson('/test/echo', body), 400, 'unpaired_surrogate');
    expect(problem.errors).toEqual([
      { location: 'body', pointer, detail: 'Contains an unpaired UTF-16 surrogate', code: 'unpaired_surrogate' },
    ]);
  });

  it.each([
    ['at the top level', '{"__proto__":{"admin":true},"name":"a","count":1}', '/__proto__'],
    ['nested', '{"name":"a","count":1,"nested":{"__proto__":{"admin":true}}}', '/nested/__proto__'],
    ['written with escapes', '{"name":"a","count":1,"nested":{"\\u005f_proto__":"y"}}', '/nested/__proto__'],
  ])('the reserved key __proto__ %s: 400 reserved_key naming it', async (_, body, pointer) => {
    const problem = await expectProblem(await postJson('/test/echo', body), 400, 'reserved_key');
    expect(problem.errors).toEqual([{ location: 'body', pointer, detail: 'The key __proto__ is reserved', code: 'reserved_key' }]);
  });

  it('keys that are only names of Object.prototype members are kept verbatim', async () => {
    const nestedValue = { constructor: { prototype: 1 }, prototype: 'p', toString: 's', hasOwnProperty: true, __proto: 'x' };
    const response = await postJson('/test/echo', JSON.stringify({ name: 'a', count: 1, nested: nestedValue }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ name: 'a', count: 1, nested: nestedValue });
  });

  it.each([
    ['at the top level', '{"name":"a","name":"b","count":1}', '/name'],
    ['nested', '{"name":"a","count":1,"nested":{"k":1,"k":2}}', '/nested/k'],
    ['equal once escapes are decoded', '{"name":"a","count":1,"n\\u0061me":"b"}', '/name'],
    ['in an object inside an array', '{"name":"a","count":1,"nested":{"list":[{"a":1},{"b":1,"b":1}]}}', '/nested/list/1/b'],
    ['with quotes and slashes in the key', '{"name":"a","count":1,"nested":{"a\\"/~":1,"a\\"/~":1}}', '/nested/a"~1~0'],
  ])('a key repeated %s: 400 duplicate_key naming it', async (_, body, pointer) => {
    const problem = await expectProblem(await postJson('/test/echo', body), 400, 'duplicate_key');
    expect(problem.errors).toEqual([
      { location: 'body', pointer, detail: 'The key appears more than once in this object', code: 'duplicate_key' },
    ]);
  });

  it('the same key in different objects is no duplicate', async () => {
    const body = { name: 'a', count: 1, nested: { name: { name: 1 }, list: [{ name: 1 }, { name: 2 }], '}{"name":': 'name' } };
    const response = await postJson('/test/echo', JSON.stringify(body));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(body);
  });
});

describe('a refused body on a product route writes nothing', () => {
  async function devicesOf(tenant: Awaited<ReturnType<typeof createTenant>>) {
    const { data } = await tenant.api.GET('/v1/devices');
    return data?.data ?? [];
  }

  function post(tenant: Awaited<ReturnType<typeof createTenant>>, path: string, body: Uint8Array | string, headers = {}) {
    return callWorker(path, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', ...headers },
      body,
    });
  }

  it.each([
    ['invalid UTF-8', bytes('{"name":"bad', [0xff, 0xfe], 'utf8","kind":"iot"}'), 'invalid_encoding', ''],
    ['an overlong encoding', bytes('{"name":"bad', [0xc0, 0xaf], '","kind":"iot"}'), 'invalid_encoding', ''],
    ['a lone surrogate', '{"name":"x\\ud800","kind":"iot"}', 'unpaired_surrogate', '/name'],
    ['__proto__ in metadata', '{"name":"x","kind":"iot","metadata":{"__proto__":"y"}}', 'reserved_key', '/metadata/__proto__'],
    ['a repeated name', '{"name":"a","name":"b","kind":"iot"}', 'duplicate_key', '/name'],
  ])('POST /v1/devices with %s: 400, no device, and the idempotency key stays free', async (_, body, code, pointer) => {
    const tenant = await createTenant();
    const refused = await post(tenant, '/v1/devices', body, { 'Idempotency-Key': 'strict-json-1' });
    const problem = await expectProblem(refused, 400, code);
    expect(problem.errors?.[0]).toMatchObject({ location: 'body', pointer, code });
    expect(await devicesOf(tenant)).toEqual([]);
    const retried = await post(tenant, '/v1/devices', '{"name":"ok","kind":"iot"}', { 'Idempotency-Key': 'strict-json-1' });
    expect(retried.status).toBe(201);
  });

  it('POST /v1/devices keeps constructor and prototype metadata keys verbatim', async () => {
    const tenant = await createTenant();
    const created = await post(tenant, '/v1/devices', '{"name":"x","kind":"iot","metadata":{"constructor":"c","prototype":1}}');
    expect(created.status).toBe(201);
    const [device] = await devicesOf(tenant);
    expect(device?.metadata).toEqual({ constructor: 'c', prototype: 1 });
  });

  it('POST /v1/api-keys with scopes given twice: 400, no key (a proxy reading the first value would see another request)', async () => {
    const tenant = await createTenant({ scopes: ['keys:admin', 'devices:read'] });
    const body = '{"name":"reader","scopes":["devices:read"],"scopes":["keys:admin"]}';
    const problem = await expectProblem(await post(tenant, '/v1/api-keys', body), 400, 'duplicate_key');
    expect(problem.errors).toEqual([
      { location: 'body', pointer: '/scopes', detail: 'The key appears more than once in this object', code: 'duplicate_key' },
    ]);
    const { data } = await tenant.api.GET('/v1/api-keys');
    expect(data?.data.map((key) => key.id)).toEqual([tenant.key.id]);
  });
});
