import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { checkApiKeyFormat, generateApiKey } from '../../src/lib/api-key.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant } from '../helpers/tenants.ts';
import { callWorker, PRODUCTION_ENV } from '../helpers/worker.ts';

describe('API key format', () => {
  it('generates sy_<mode>_ keys with 32 random characters and a checksum that catches any one-character change', async () => {
    const { secret, prefix } = await generateApiKey('live');
    expect(secret).toMatch(/^sy_live_[0-9A-Za-z]{38}$/);
    expect(prefix).toBe(secret.slice(0, 12));
    expect(checkApiKeyFormat(secret)).toBe('live');
    for (let position = 8; position < secret.length; position += 1) {
      const replacement = secret[position] === 'x' ? 'y' : 'x';
      expect(checkApiKeyFormat(secret.slice(0, position) + replacement + secret.slice(position + 1))).toBeUndefined();
    }
    expect(checkApiKeyFormat(secret.replace('sy_live_', 'sy_test_'))).toBeUndefined();
  });

  it('draws different keys every time', async () => {
    const secrets = new Set(await Promise.all(Array.from({ length: 50 }, async () => (await generateApiKey('test')).secret)));
    expect(secrets.size).toBe(50);
  });
});

describe('authentication', () => {
  it('accepts `bearer` in any case', async () => {
    const tenant = await createTenant();
    const response = await callWorker('/v1/api-keys', { headers: { Authorization: `bearer ${tenant.key.secret}` } });
    expect(response.status).toBe(200);
  });

  it('stamps last_used_at after the response, at most once a minute', async () => {
    const tenant = await createTenant();
    const key = await tenant.addKey();
    const lastUsed = () =>
      env.DB.prepare('SELECT last_used_at FROM api_keys WHERE id = ?1').bind(key.id).first<{ last_used_at: string | null }>();
    expect((await lastUsed())?.last_used_at).toBeNull();
    await callWorker('/v1/api-keys', { headers: { Authorization: `Bearer ${key.secret}` } });
    const first = (await lastUsed())?.last_used_at;
    expect(first).not.toBeNull();
    expect(Date.now() - Date.parse(first ?? '')).toBeLessThan(10_000);
    await callWorker('/v1/api-keys', { headers: { Authorization: `Bearer ${key.secret}` } });
    expect((await lastUsed())?.last_used_at).toBe(first);
  });

  it("refuses the demo organisation's keys in production only", async () => {
    const demo = await createTenant({ isDemo: true });
    const headers = { Authorization: `Bearer ${demo.key.secret}` };
    expect((await callWorker('/v1/api-keys', { headers })).status).toBe(200);
    const production = await callWorker('/v1/api-keys', { headers }, PRODUCTION_ENV);
    await expectProblem(production, 401, 'unauthorized');
  });

  it('sets Cache-Control: no-store on authenticated responses', async () => {
    const tenant = await createTenant();
    const { response } = await tenant.api.GET('/v1/api-keys');
    expect(response.headers.get('Cache-Control')).toBe('no-store');
  });
});
