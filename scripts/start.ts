/**
 * `npm start` (after `npm run assets` copied the docs bundle): migrates the local D1, seeds the
 * demo organisation once, starts the Worker on 127.0.0.1 (port 8787, or $PORT) and prints where
 * everything is and the demo key. Ctrl-C stops it.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SCOPES } from '../src/schemas/scopes.ts';
import { ensureDevVars, migrateLocal, ROOT, startLocalWorker } from './lib/local-worker.ts';
import { bootstrapOrganization, keyExists } from './lib/org-bootstrap.ts';

const port = Number(process.env.PORT ?? 8787);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`PORT must be a TCP port number, got ${process.env.PORT}`);
  process.exit(2);
}
const persistTo = join(ROOT, '.wrangler', 'state');
const demoFile = join(persistTo, 'demo-key.json');

interface DemoKey {
  org_id: string;
  key_id: string;
  api_key: string;
}

/** The demo organisation's key: created on the first start, reused after (its keys are refused in production). */
async function demoKey(): Promise<DemoKey> {
  if (existsSync(demoFile)) {
    const saved = JSON.parse(await readFile(demoFile, 'utf8')) as DemoKey;
    if (await keyExists(saved.key_id, { persistTo })) return saved;
  }
  const created = await bootstrapOrganization({
    name: 'Demo organisation',
    scopes: [...SCOPES],
    plan: 'pro',
    mode: 'test',
    isDemo: true,
    persistTo,
  });
  const saved = { org_id: created.orgId, key_id: created.keyId, api_key: created.apiKey };
  await writeFile(demoFile, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  return saved;
}

await ensureDevVars();
await migrateLocal(persistTo);
const demo = await demoKey();
const worker = await startLocalWorker({ port, persistTo });

console.log(`
  Switchyard is running.
    API:        ${worker.url}
    Reference:  ${worker.url}/docs
    OpenAPI:    ${worker.url}/openapi.json
    Health:     ${worker.url}/health   Ready: ${worker.url}/ready

  Demo organisation ${demo.org_id}, API key (all scopes, local only):
    ${demo.api_key}

  Try:  curl -H "Authorization: Bearer ${demo.api_key}" ${worker.url}/v1/api-keys
  Press Ctrl-C to stop.
`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void worker.stop().then(() => process.exit(0));
  });
}
