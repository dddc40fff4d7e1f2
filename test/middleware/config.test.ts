import { afterEach, describe, expect, it, vi } from 'vitest';
import { expectProblem } from '../helpers/problem.ts';
import { callWorker, PRODUCTION_ENV } from '../helpers/worker.ts';

function capturedLines(spy: { mock: { calls: unknown[][] } }): Array<Record<string, unknown>> {
  return spy.mock.calls.map(([line]) => JSON.parse(String(line)));
}

afterEach(() => {
  vi.restoreAllMocks();
});

const PLACEHOLDER_ORIGIN = 'CORS_ORIGINS a placeholder, loopback or plain-http origin is not allowed in production';

describe('configuration fails closed', () => {
  it.each([
    ['a missing SESSION_JWT_SECRET', { SESSION_JWT_SECRET: undefined }, 'SESSION_JWT_SECRET is required'],
    ['an empty SESSION_JWT_SECRET', { SESSION_JWT_SECRET: '' }, 'SESSION_JWT_SECRET is required'],
    ['a 31-byte SESSION_JWT_SECRET', { SESSION_JWT_SECRET: 'x'.repeat(31) }, 'SESSION_JWT_SECRET must be at least 32 bytes'],
    ['a missing STORAGE_ENCRYPTION_SECRET', { STORAGE_ENCRYPTION_SECRET: undefined }, 'STORAGE_ENCRYPTION_SECRET is required'],
    [
      'a 31-byte STORAGE_ENCRYPTION_SECRET',
      { STORAGE_ENCRYPTION_SECRET: 'x'.repeat(31) },
      'STORAGE_ENCRYPTION_SECRET must be at least 32 bytes',
    ],
    [
      'a STORAGE_ENCRYPTION_SECRET equal to SESSION_JWT_SECRET',
      { STORAGE_ENCRYPTION_SECRET: PRODUCTION_ENV.SESSION_JWT_SECRET },
      'STORAGE_ENCRYPTION_SECRET must differ from SESSION_JWT_SECRET',
    ],
    [
      'a 31-byte previous storage secret',
      { STORAGE_ENCRYPTION_PREVIOUS_SECRETS: `${'p'.repeat(40)},${'x'.repeat(31)}` },
      'STORAGE_ENCRYPTION_PREVIOUS_SECRETS must be at least 32 bytes',
    ],
    ['a wildcard CORS_ORIGINS in production', { CORS_ORIGINS: '*' }, 'CORS_ORIGINS a wildcard is not allowed in production'],
    ['an empty CORS_ORIGINS in production', { CORS_ORIGINS: '' }, 'CORS_ORIGINS must list at least one origin in production'],
    [
      'a CORS_ORIGINS entry that is not an origin',
      { CORS_ORIGINS: 'https://app.example.com/path' },
      'CORS_ORIGINS every entry must be an origin',
    ],
    [
      'a placeholder, loopback or http CORS_ORIGINS entry in production: https://app.switchyard.example',
      { CORS_ORIGINS: 'https://app.switchyard.dev,https://app.switchyard.example' },
      PLACEHOLDER_ORIGIN,
    ],
    [
      'a placeholder, loopback or http CORS_ORIGINS entry in production: https://app.example.com',
      { CORS_ORIGINS: 'https://app.switchyard.dev,https://app.example.com' },
      PLACEHOLDER_ORIGIN,
    ],
    [
      'a placeholder, loopback or http CORS_ORIGINS entry in production: https://shop.example.org',
      { CORS_ORIGINS: 'https://app.switchyard.dev,https://shop.example.org' },
      PLACEHOLDER_ORIGIN,
    ],
    [
      'a placeholder, loopback or http CORS_ORIGINS entry in production: https://localhost',
      { CORS_ORIGINS: 'https://app.switchyard.dev,https://localhost' },
      PLACEHOLDER_ORIGIN,
    ],
    [
      'a placeholder, loopback or http CORS_ORIGINS entry in production: https://127.0.0.1:8443',
      { CORS_ORIGINS: 'https://app.switchyard.dev,https://127.0.0.1:8443' },
      PLACEHOLDER_ORIGIN,
    ],
    [
      'a placeholder, loopback or http CORS_ORIGINS entry in production: http://app.acme.io',
      { CORS_ORIGINS: 'https://app.switchyard.dev,http://app.acme.io' },
      PLACEHOLDER_ORIGIN,
    ],
    ['an unknown ENVIRONMENT', { ENVIRONMENT: 'staging' }, 'ENVIRONMENT'],
    ['a missing D1 binding', { DB: undefined }, 'DB'],
    ['a missing rate limiter binding', { RATE_LIMITER: undefined }, 'RATE_LIMITER'],
  ])('%s: 500 problem and one log line naming the setting, never its value', async (_, override, expected) => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const response = await callWorker('/health', {}, { ...PRODUCTION_ENV, ...override });
    const problem = await expectProblem(response, 500, 'service_misconfigured', '/health');
    expect(problem.detail).toBe('The service cannot handle requests until its configuration is fixed.');
    // The failed request still carries the security headers.
    expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
    const lines = capturedLines(errors);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', msg: 'request', status: 500 });
    expect(JSON.stringify(lines[0])).toContain(expected);
    expect(JSON.stringify(lines[0])).not.toContain('x'.repeat(31));
  });

  it('a 31-byte multi-byte secret counts bytes, not characters', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    // 11 three-byte characters: 33 bytes, 11 characters: accepted.
    const accepted = await callWorker('/health', {}, { ...PRODUCTION_ENV, SESSION_JWT_SECRET: '€'.repeat(11) });
    expect(accepted.status).toBe(200);
  });

  it('a complete production configuration serves requests', async () => {
    const response = await callWorker('/health', {}, PRODUCTION_ENV);
    expect(response.status).toBe(200);
  });

  it('development may use a wildcard origin', async () => {
    const response = await callWorker('/health', {}, { ENVIRONMENT: 'development', CORS_ORIGINS: '*' });
    expect(response.status).toBe(200);
  });

  it.each([
    ['a missing', undefined],
    ['a short', 'short'],
  ])('%s secret is refused in development too', async (_, secret) => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const response = await callWorker('/health', {}, { ENVIRONMENT: 'development', SESSION_JWT_SECRET: secret });
    await expectProblem(response, 500, 'service_misconfigured');
  });
});
