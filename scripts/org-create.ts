/**
 * `npm run org:create -- --name NAME [--scopes a,b] [--plan P] [--mode live|test] [--json] [--remote] [--env E]`
 *
 * Creates an organisation and its first admin key, and prints the key once. Local D1 by default
 * (the same database `npm start` uses); --remote writes to the deployed database. With --json,
 * the last line is {"org_id": "...", "api_key": "..."}.
 */

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PLAN_LIMITS } from '../src/db/organizations.ts';
import type { KeyMode } from '../src/lib/api-key.ts';
import type { Plan } from '../src/schemas/plans.ts';
import { SCOPES, type Scope } from '../src/schemas/scopes.ts';
import { ROOT } from './lib/local-worker.ts';
import { bootstrapOrganization } from './lib/org-bootstrap.ts';

function fail(message: string): never {
  console.error(`org:create: ${message}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    scopes: { type: 'string', default: SCOPES.join(',') },
    plan: { type: 'string', default: 'free' },
    mode: { type: 'string', default: 'live' },
    json: { type: 'boolean', default: false },
    remote: { type: 'boolean', default: false },
    env: { type: 'string' },
    'persist-to': { type: 'string' },
  },
  strict: true,
});

const name = values.name?.trim();
if (!name || name.length > 100) fail('--name is required, 1–100 characters');
const scopes = values.scopes
  .split(',')
  .map((scope) => scope.trim())
  .filter(Boolean);
const unknown = scopes.filter((scope) => !(SCOPES as readonly string[]).includes(scope));
if (scopes.length === 0 || unknown.length > 0)
  fail(`--scopes must be a comma-separated list of: ${SCOPES.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
if (!(values.plan in PLAN_LIMITS)) fail(`--plan must be one of: ${Object.keys(PLAN_LIMITS).join(', ')}`);
if (values.mode !== 'live' && values.mode !== 'test') fail('--mode must be live or test');

const created = await bootstrapOrganization({
  name,
  scopes: scopes as Scope[],
  plan: values.plan as Plan,
  mode: values.mode as KeyMode,
  remote: values.remote,
  persistTo: values.remote ? undefined : (values['persist-to'] ?? join(ROOT, '.wrangler', 'state')),
  environment: values.env,
});

if (values.json) {
  console.log(JSON.stringify({ org_id: created.orgId, api_key: created.apiKey }));
} else {
  console.log(`Created organisation ${created.orgId} (${name}, plan ${values.plan}).`);
  console.log(`Its admin key ${created.keyId} — shown once, store it now:\n\n  ${created.apiKey}\n`);
}
