import { describe, expect, it } from 'vitest';
import { callWorker, PRODUCTION_ENV } from '../helpers/worker.ts';

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
    const allowed = await callWorker('/health', { headers: { Origin: PRODUCTION_ENV.CORS_ORIGINS } }, PRODUCTION_ENV);
    expect(allowed.headers.get('Access-Control-Allow-Origin')).toBe(PRODUCTION_ENV.CORS_ORIGINS);
    const refused = await callWorker('/health', { headers: { Origin: 'http://localhost:5173' } }, PRODUCTION_ENV);
    expect(refused.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});
