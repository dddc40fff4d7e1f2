import { describe, expect, it } from 'vitest';
import { api, callWorker, PRODUCTION_ENV } from '../helpers/worker.ts';

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
