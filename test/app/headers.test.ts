import { describe, expect, it } from 'vitest';
import { api, callWorker, PRODUCTION_ENV } from '../helpers/worker.ts';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

describe('security headers', () => {
  it("are OWASP's set for an API on every response, without the headers only a rendered document needs", async () => {
    for (const response of [(await api.GET('/health')).response, await callWorker('/nowhere')]) {
      expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
      expect(response.headers.get('Content-Security-Policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(response.headers.get('X-Frame-Options')).toBe('DENY');
      expect(response.headers.get('Cache-Control')).toBe('no-store');
      expect(response.headers.get('X-Powered-By')).toBeNull();
      for (const documentOnly of ['Referrer-Policy', 'Cross-Origin-Opener-Policy', 'Permissions-Policy', 'X-XSS-Protection']) {
        expect(response.headers.get(documentOnly)).toBeNull();
      }
    }
  });

  it('add the document headers to an HTML page, whose own policy and caching are kept', async () => {
    const response = await callWorker('/docs');
    expect(response.headers.get('Content-Type')).toMatch(/^text\/html/);
    expect(response.headers.get('Content-Security-Policy')).toMatch(/script-src 'nonce-/);
    expect(response.headers.get('Cache-Control')).toBe('no-cache');
    expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(response.headers.get('X-Frame-Options')).toBe('DENY');
    expect(response.headers.get('Referrer-Policy')).toBe('no-referrer');
    expect(response.headers.get('Cross-Origin-Opener-Policy')).toBe('same-origin');
    expect(response.headers.get('Cross-Origin-Resource-Policy')).toBe('same-origin');
    expect(response.headers.get('Permissions-Policy')).toBe('camera=(), microphone=(), geolocation=()');
    expect(response.headers.get('X-XSS-Protection')).toBe('0');
  });

  it('HSTS only in production', async () => {
    expect((await callWorker('/health')).headers.get('Strict-Transport-Security')).toBeNull();
    const production = await callWorker('/health', {}, PRODUCTION_ENV);
    expect(production.status).toBe(200);
    expect(production.headers.get('Strict-Transport-Security')).toBe('max-age=63072000; includeSubDomains');
  });
});

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

describe('CORS', () => {
  const env = { CORS_ORIGINS: 'https://app.example.com, https://admin.example.com' };

  it('allows a listed origin, without credentials', async () => {
    const response = await callWorker('/health', { headers: { Origin: 'https://admin.example.com' } }, env);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('https://admin.example.com');
    expect(response.headers.get('Access-Control-Allow-Credentials')).toBeNull();
    expect(response.headers.get('Vary')).toContain('Origin');
    expect(response.headers.get('Access-Control-Expose-Headers')).toContain('X-Request-Id');
  });

  it('never reflects an unlisted origin', async () => {
    const response = await callWorker('/health', { headers: { Origin: 'https://evil.example.net' } }, env);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
    expect(response.headers.get('Access-Control-Allow-Credentials')).toBeNull();
  });

  it('answers a preflight from a listed origin', async () => {
    const response = await callWorker(
      '/health',
      {
        method: 'OPTIONS',
        headers: {
          Origin: 'https://app.example.com',
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization,content-type,idempotency-key',
        },
      },
      env,
    );
    expect(response.status).toBe(204);
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('https://app.example.com');
    expect(response.headers.get('Access-Control-Allow-Methods')).toContain('POST');
    expect(response.headers.get('Access-Control-Allow-Headers')?.toLowerCase()).toContain('idempotency-key');
    expect(response.headers.get('Access-Control-Max-Age')).toBe('600');
  });

  it('gives a preflight from an unlisted origin no permission', async () => {
    const response = await callWorker(
      '/health',
      { method: 'OPTIONS', headers: { Origin: 'https://evil.example.net', 'Access-Control-Request-Method': 'GET' } },
      env,
    );
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });

  it('a development wildcard allows any origin, still without credentials', async () => {
    const response = await callWorker('/health', { headers: { Origin: 'http://localhost:3000' } }, { CORS_ORIGINS: '*' });
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('*');
    expect(response.headers.get('Access-Control-Allow-Credentials')).toBeNull();
  });

  it('production answers only its own allowlist', async () => {
    const allowed = await callWorker('/health', { headers: { Origin: 'https://app.example.com' } }, PRODUCTION_ENV);
    expect(allowed.headers.get('Access-Control-Allow-Origin')).toBe('https://app.example.com');
    const refused = await callWorker('/health', { headers: { Origin: 'http://localhost:5173' } }, PRODUCTION_ENV);
    expect(refused.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});
