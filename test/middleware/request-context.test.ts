import { describe, expect, it } from 'vitest';
import { api, callWorker } from '../helpers/worker.ts';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

describe('request id', () => {
  it('is generated when absent, and differs per request', async () => {
    const first = (await api.GET('/health')).response.headers.get('X-Request-Id');
    const second = (await api.GET('/health')).response.headers.get('X-Request-Id');
    expect(first).toMatch(/^req_[0-9a-f]{32}$/);
    expect(second).toMatch(/^req_[0-9a-f]{32}$/);
    expect(first).not.toBe(second);
  });

  it("echoes the caller's well-formed id", async () => {
    const { response } = await api.GET('/health', { headers: { 'X-Request-Id': 'client-abc_123=' } });
    expect(response.headers.get('X-Request-Id')).toBe('client-abc_123=');
  });

  it.each([
    ['characters outside [A-Za-z0-9_=-]', 'id with spaces'],
    ['header injection attempt', 'abc\\r\\nSet-Cookie:x'],
    ['more than 128 characters', 'a'.repeat(129)],
  ])('replaces an id with %s', async (_, id) => {
    const response = await callWorker('/health', { headers: { 'X-Request-Id': id } });
    expect(response.headers.get('X-Request-Id')).toMatch(/^req_[0-9a-f]{32}$/);
  });
});

describe('traceparent', () => {
  it("continues the caller's trace with a new span", async () => {
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const header = (await callWorker('/health', { headers: { traceparent: incoming } })).headers.get('traceparent');
    const [, traceId, spanId, flags] = TRACEPARENT.exec(header ?? '') ?? [];
    expect(traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(spanId).not.toBe('00f067aa0ba902b7');
    expect(flags).toBe('01');
  });

  it('starts a trace when absent', async () => {
    const header = (await callWorker('/health')).headers.get('traceparent');
    expect(header).toMatch(TRACEPARENT);
  });

  it.each([
    'garbage',
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
  ])('starts a new trace instead of continuing the invalid %s', async (incoming) => {
    const header = (await callWorker('/health', { headers: { traceparent: incoming } })).headers.get('traceparent');
    expect(header).toMatch(TRACEPARENT);
    expect(header).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(header).not.toContain('4BF92F3577B34DA6A3CE929D0E0E4736');
  });

  it('is on error responses too', async () => {
    const response = await callWorker('/nowhere');
    expect(response.headers.get('traceparent')).toMatch(TRACEPARENT);
    expect(response.headers.get('X-Request-Id')).toMatch(/^req_/);
  });
});
