/**
 * `npm start` (after `npm run assets` copied the docs bundle): migrates the local D1, starts the Worker on 127.0.0.1
 * (port 8787, or $PORT) and prints where everything is. Ctrl-C stops it.
 */

import { join } from 'node:path';
import { ensureDevVars, migrateLocal, ROOT, startLocalWorker } from './lib/local-worker.ts';

const port = Number(process.env.PORT ?? 8787);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`PORT must be a TCP port number, got ${process.env.PORT}`);
  process.exit(2);
}
const persistTo = join(ROOT, '.wrangler', 'state');

await ensureDevVars();
await migrateLocal(persistTo);
const worker = await startLocalWorker({ port, persistTo });

console.log(`
  Switchyard is running.
    API:        ${worker.url}
    Reference:  ${worker.url}/docs
    OpenAPI:    ${worker.url}/openapi.json
    Health:     ${worker.url}/health   Ready: ${worker.url}/ready
  Press Ctrl-C to stop.
`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void worker.stop().then(() => process.exit(0));
  });
}
