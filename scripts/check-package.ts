/**
 * `npm run test:package`: generated/ as a user gets it from npm. Packs it, checks that the tarball
 * holds the package's files and nothing else (no .ts source, nothing of the server), installs it
 * into an empty project with TypeScript, type-checks a consumer script strictly (and broken copies
 * of it, which must fail naming what is wrong), and runs the script against a local Worker: it
 * creates a device, pages 250 devices with `for await`, survives an injected 429 with
 * Retry-After, catches a typed 404, and signs a request (RFC 9421) with an Ed25519 key pair it
 * makes with WebCrypto; and the installed client carries the `Switchyard-Bookmark` of a change to
 * the read after it. The Worker starts (and is seeded) while npm installs.
 * Ends with `package: N passed, N failed`.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { createSwitchyardClient, unwrap } from '../generated/client.ts';
import { CLIENT_PACKAGE } from '../src/code-samples.ts';
import { SCOPES } from '../src/schemas/scopes.ts';
import { ensureDevVars, type LocalWorker, migrateLocal, ROOT, startLocalWorker, WRANGLER_ENV } from './lib/local-worker.ts';
import { bootstrapOrganization } from './lib/org-bootstrap.ts';

const PORT = Number(process.env.PACKAGE_CHECK_PORT ?? 8792);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const PACKAGE_DIR = join(ROOT, 'generated');
/** The consumer's script creates one device; with these, it pages 250. */
const SEEDED_DEVICES = 249;
const SEED_CONCURRENCY = 10;

/**
 * What a user would write: about 20 lines. The 429 is injected by the script's own `fetch` (a
 * Worker on an unlimited plan never sends one), so it is visible in the script that it is a test.
 */
const CONSUMER = `import { createSwitchyardClient, paginate, SwitchyardApiError, unwrap } from '${CLIENT_PACKAGE}';
import type { components } from '${CLIENT_PACKAGE}/types';
import { verifyWebhook } from '${CLIENT_PACKAGE}/webhooks';

// Injected for the test: the first request is answered here with a 429 and Retry-After: 1, as a
// busy API would answer; the client must wait a second and retry. Every other request goes to the API.
let throttled = false;
async function fetchWithOne429(request: Request): Promise<Response> {
  if (throttled) return fetch(request);
  throttled = true;
  const problem = { type: new URL('/problems/rate-limited', request.url).href, title: 'Too many requests', status: 429, code: 'rate_limited' };
  return Response.json(problem, { status: 429, headers: { 'Retry-After': '1', 'Content-Type': 'application/problem+json' } });
}

const api = createSwitchyardClient({
  baseUrl: process.env.SWITCHYARD_URL,
  apiKey: process.env.SWITCHYARD_API_KEY,
  fetch: fetchWithOne429,
  debug: (event) => {
    if (event.type === 'retry') console.log(\`retried after \${event.delayMs} ms (\${event.reason})\`);
  },
});

const device: components['schemas']['Device'] = unwrap(await api.POST('/v1/devices', { body: { name: 'Lobby kiosk', kind: 'iot' } }));
console.log(\`created \${device.id}\`);

const ids = new Set<string>();
for await (const each of paginate(api, '/v1/devices', { params: { query: { limit: 100 } } })) ids.add(each.id);
console.log(\`paged \${ids.size} devices\`);

try {
  unwrap(await api.GET('/v1/devices/{id}', { params: { path: { id: 'dev_0000000000000000000000' } } }));
} catch (error) {
  if (!(error instanceof SwitchyardApiError) || error.code !== 'not_found') throw error;
  console.log(\`caught \${error.status} \${error.code}\`);
}

// Signed requests (RFC 9421): a key pair made with WebCrypto, its public key registered, and the
// organisation's requirement turned on by a request the client signs with the private key.
const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
if (!('privateKey' in pair)) throw new Error('generateKey gave no key pair');
const { x = '' } = await crypto.subtle.exportKey('jwk', pair.publicKey);
const signingKey = unwrap(await api.POST('/v1/signing-keys', { body: { name: 'package check', public_key: { kty: 'OKP', crv: 'Ed25519', x } } }));
const signer = createSwitchyardClient({
  baseUrl: process.env.SWITCHYARD_URL,
  apiKey: process.env.SWITCHYARD_API_KEY,
  signing: { keyId: signingKey.id, privateKey: pair.privateKey },
});
const policy = unwrap(await signer.PUT('/v1/organization/request-signing', { body: { required: true } }));
console.log(\`signed: required \${policy.required}\`);

// A webhook receiver: the verified event is typed by its \`type\`.
export async function onDelivery(request: Request): Promise<string> {
  const event = await verifyWebhook(await request.text(), request.headers, [process.env.WEBHOOK_SECRET ?? '']);
  return event.type === 'device.created' ? event.data.name : event.type;
}
`;

/**
 * A strict Node project's settings. NodeNext resolution: the one that holds a package to its
 * `exports` and to `.js` in its declarations' imports. `lib` without DOM and skipLibCheck off: the
 * package's declarations must type-check with nothing but @types/node.
 */
const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    types: ['node'],
    strict: true,
    noEmit: true,
    verbatimModuleSyntax: true,
    erasableSyntaxOnly: true,
    skipLibCheck: false,
  },
  files: ['consumer.ts'],
};

/** Broken copies of the consumer: each must fail to type-check, naming what is wrong. */
const BROKEN: Array<{ name: string; from: string; to: string; named: string }> = [
  { name: 'wrong-path', from: "api.GET('/v1/devices/{id}'", to: "api.GET('/v1/devicez/{id}'", named: '/v1/devicez/{id}' },
  { name: 'wrong-body-field', from: "kind: 'iot'", to: "knd: 'iot'", named: "'knd' does not exist" },
  { name: 'wrong-error-code', from: "error.code !== 'not_found'", to: "error.code !== 'notfound'", named: '"notfound"' },
  { name: 'wrong-event-field', from: 'event.data.name', to: 'event.data.nam', named: "'nam' does not exist" },
];

interface Outcome {
  code: number | null;
  stdout: string;
  /** stdout and stderr together, as a terminal shows them. */
  output: string;
}

/** Runs a command to its end. */
function capture(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? WRANGLER_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      output += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, output });
    });
  });
}

let passed = 0;
let failed = 0;
function record(name: string, ok: boolean, detail: string): void {
  if (ok) passed += 1;
  else failed += 1;
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}: ${detail}`);
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/** The last lines of a command's output, for a failure's detail. */
function tail(output: string, lines = 15): string {
  return `\n${output.trimEnd().split('\n').slice(-lines).join('\n')}`;
}

interface SeededWorker {
  worker: LocalWorker;
  apiKey: string;
  /** From the migrations to the last seeded device. */
  tookMs: number;
}

/**
 * A Worker on a fresh D1 with an organisation and its devices, seeded through the API with the
 * repository's own client. The organisation is on the `unlimited` plan, whose limits neither the
 * seeding nor the consumer can reach: the one 429 the consumer meets must be the one it injects.
 */
async function startSeededWorker(persistTo: string): Promise<SeededWorker> {
  const started = Date.now();
  await ensureDevVars();
  await migrateLocal(persistTo);
  const org = await bootstrapOrganization({ name: 'Package check', scopes: [...SCOPES], plan: 'unlimited', mode: 'test', persistTo });
  const worker = await startLocalWorker({ port: PORT, persistTo, quiet: true, log: 'ignore' });
  try {
    const api = createSwitchyardClient({ baseUrl: worker.url, apiKey: org.apiKey });
    for (let start = 0; start < SEEDED_DEVICES; start += SEED_CONCURRENCY) {
      const batch = Array.from({ length: Math.min(SEED_CONCURRENCY, SEEDED_DEVICES - start) }, (_, index) => start + index + 1);
      await Promise.all(
        batch.map(async (number) => unwrap(await api.POST('/v1/devices', { body: { name: `Seeded device ${number}`, kind: 'other' } }))),
      );
    }
  } catch (error) {
    await worker.stop();
    throw error;
  }
  return { worker, apiKey: org.apiKey, tookMs: Date.now() - started };
}

/** The module specifiers a JavaScript or declaration file imports (comments and strings ignored). */
function importsOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((file) => file.fileName);
}

/** A tarball's own files, and the package's own imports: only openapi-fetch and each other. */
async function checkTarball(packDir: string): Promise<string | undefined> {
  const packed = await capture(NPM, ['pack', '--json', '--pack-destination', packDir], { cwd: PACKAGE_DIR, timeoutMs: 60_000 });
  if (packed.code !== 0) {
    record('npm pack', false, `exit ${packed.code}${tail(packed.output)}`);
    return undefined;
  }
  const [report] = JSON.parse(packed.stdout) as Array<{
    filename: string;
    size: number;
    unpackedSize: number;
    files: Array<{ path: string; size: number }>;
  }>;
  if (report === undefined) throw new Error('npm pack reported no package');
  const paths = report.files.map((file) => file.path).sort();
  const expected = ['README.md', 'package.json', ...(await readdir(join(PACKAGE_DIR, 'dist'))).map((name) => `dist/${name}`)].sort();
  record(
    'npm pack',
    JSON.stringify(paths) === JSON.stringify(expected),
    `${report.filename}, ${(report.size / 1024).toFixed(1)} KiB packed, ${(report.unpackedSize / 1024).toFixed(1)} KiB unpacked: ${paths.join(', ')}` +
      (JSON.stringify(paths) === JSON.stringify(expected) ? '' : ` (expected ${expected.join(', ')})`),
  );
  const strays: string[] = [];
  for (const path of paths.filter((path) => /\.(js|d\.ts)$/.test(path))) {
    for (const specifier of importsOf(await readFile(join(PACKAGE_DIR, path), 'utf8'))) {
      if (specifier !== 'openapi-fetch' && !/^\.\/[\w-]+\.js$/.test(specifier)) strays.push(`${path} imports ${specifier}`);
    }
  }
  record(
    'nothing of the server',
    strays.length === 0,
    strays.length === 0 ? 'the compiled files import only openapi-fetch and each other' : strays.join('; '),
  );
  return join(packDir, report.filename);
}

async function checkInstall(consumerDir: string, tarball: string): Promise<boolean> {
  const rootManifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const devVersion = (name: string) => {
    const version = rootManifest.devDependencies[name];
    if (version === undefined) throw new Error(`package.json: ${name} is not a devDependency`);
    return version;
  };
  await mkdir(consumerDir, { recursive: true });
  await writeFile(
    join(consumerDir, 'package.json'),
    `${JSON.stringify({ name: 'switchyard-package-consumer', private: true, type: 'module' }, null, 2)}\n`,
  );
  // The TypeScript and @types/node the repository itself is checked with.
  const started = Date.now();
  const installed = await capture(
    NPM,
    ['install', '--no-audit', '--no-fund', tarball, `typescript@${devVersion('typescript')}`, `@types/node@${devVersion('@types/node')}`],
    { cwd: consumerDir, timeoutMs: 180_000 },
  );
  const packageVersion = (name: string) =>
    readFile(join(consumerDir, 'node_modules', name, 'package.json'), 'utf8').then(
      (text) => (JSON.parse(text) as { version: string }).version,
      () => 'missing',
    );
  const client = await packageVersion(CLIENT_PACKAGE);
  const openapiFetch = await packageVersion('openapi-fetch');
  const ok = installed.code === 0 && client !== 'missing' && openapiFetch === devVersion('openapi-fetch');
  record(
    'npm install <tarball> into an empty project',
    ok,
    ok
      ? `${CLIENT_PACKAGE}@${client} with openapi-fetch@${openapiFetch}, in ${seconds(started)}`
      : `exit ${installed.code}, openapi-fetch ${openapiFetch}${tail(installed.output)}`,
  );
  return ok;
}

function typecheck(consumerDir: string, project: string): Promise<Outcome> {
  return capture(process.execPath, [join(consumerDir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], {
    cwd: consumerDir,
    timeoutMs: 120_000,
  });
}

async function checkTypes(consumerDir: string): Promise<boolean> {
  await writeFile(join(consumerDir, 'consumer.ts'), CONSUMER);
  await writeFile(join(consumerDir, 'tsconfig.json'), `${JSON.stringify(CONSUMER_TSCONFIG, null, 2)}\n`);
  const broken = await Promise.all(
    BROKEN.map(async (variant) => {
      if (CONSUMER.split(variant.from).length !== 2) {
        throw new Error(`${variant.name}: the consumer must hold ${variant.from} exactly once`);
      }
      const file = `broken-${variant.name}.ts`;
      await writeFile(join(consumerDir, file), CONSUMER.replace(variant.from, variant.to));
      const project = `tsconfig.${variant.name}.json`;
      await writeFile(join(consumerDir, project), `${JSON.stringify({ extends: './tsconfig.json', files: [file] }, null, 2)}\n`);
      return { variant, file, project };
    }),
  );
  // Together: each is a separate tsc, and CI time counts.
  const [clean, ...outcomes] = await Promise.all([
    typecheck(consumerDir, 'tsconfig.json'),
    ...broken.map(({ project }) => typecheck(consumerDir, project)),
  ]);
  if (clean === undefined) throw new Error('no type-check ran');
  record(
    'the consumer type-checks (strict, NodeNext, @types/node only)',
    clean.code === 0,
    clean.code === 0 ? 'no errors' : tail(clean.output),
  );
  broken.forEach(({ variant, file }, index) => {
    const outcome = outcomes[index];
    const errors = outcome?.output.split('\n').filter((line) => line.startsWith(`${file}(`)) ?? [];
    const ok = outcome?.code !== 0 && errors.length > 0 && errors.every((line) => line.includes(variant.named));
    record(
      `${variant.name} (${variant.to}) fails to compile`,
      ok,
      ok ? (errors[0] ?? '').slice(0, 200) : `exit ${outcome?.code}${tail(outcome?.output ?? '')}`,
    );
  });
  return clean.code === 0;
}

/**
 * The subpaths resolve at run time, the socket entry hands out the main entry's own classes, and
 * the webhooks entry verifies the Standard Webhooks test vector and refuses it once tampered with.
 */
async function checkEntries(consumerDir: string): Promise<void> {
  const script = [
    `const client = await import('${CLIENT_PACKAGE}');`,
    `const socket = await import('${CLIENT_PACKAGE}/socket');`,
    `const webhooks = await import('${CLIENT_PACKAGE}/webhooks');`,
    `await import('${CLIENT_PACKAGE}/types');`,
    'const same = socket.connectSession === client.connectSession && socket.SessionClosedError === client.SessionClosedError;',
    "const headers = { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' };",
    "const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';",
    'const at = { now: new Date(1614265330 * 1000) };',
    'const genuine = (await webhooks.verifyWebhook(\'{"test": 2432232314}\', headers, secret, at)).test === 2432232314;',
    'const forged = await webhooks.verifyWebhook(\'{"test": 1}\', headers, secret, at).then(() => "accepted", (error) => error.reason);',
    "if (!genuine || forged !== 'invalid_signature') throw new Error('webhooks: genuine ' + genuine + ', forged ' + forged);",
    `console.log(same ? 'same' : 'different', client.CLIENT_VERSION);`,
  ].join('\n');
  const outcome = await capture(process.execPath, ['--input-type=module', '--eval', script], { cwd: consumerDir, timeoutMs: 30_000 });
  const expectedVersion = (JSON.parse(await readFile(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }).version;
  const ok = outcome.code === 0 && outcome.output.trim() === `same ${expectedVersion}`;
  record(
    `import '${CLIENT_PACKAGE}', '/socket', '/webhooks' and '/types'`,
    ok,
    ok
      ? `one module behind both entries, CLIENT_VERSION ${expectedVersion}, the webhook test vector verified and its forgery refused`
      : tail(outcome.output),
  );
}

async function checkRun(consumerDir: string, seeded: SeededWorker): Promise<void> {
  const started = Date.now();
  const outcome = await capture(process.execPath, ['consumer.ts'], {
    cwd: consumerDir,
    env: { ...process.env, SWITCHYARD_URL: seeded.worker.url, SWITCHYARD_API_KEY: seeded.apiKey },
    timeoutMs: 60_000,
  });
  const took = seconds(started);
  const output = outcome.output;
  const failure = outcome.code === 0 ? '' : ` (exit ${outcome.code})${tail(output)}`;
  record(
    'the consumer survives an injected 429 with Retry-After: 1',
    /^retried after 1000 ms \(status 429\)$/m.test(output) && /^created dev_\w+$/m.test(output),
    `${output.match(/^retried.*$/m)?.[0] ?? 'no retry'}, then ${output.match(/^created.*$/m)?.[0] ?? 'no device created'}${failure}`,
  );
  record(
    'the consumer pages 250 devices with for await',
    /^paged 250 devices$/m.test(output),
    `${output.match(/^paged.*$/m)?.[0] ?? 'did not page'}${failure}`,
  );
  record(
    'the consumer signs a request with its signing option (Ed25519, WebCrypto in Node)',
    /^signed: required true$/m.test(output),
    `${output.match(/^signed.*$/m)?.[0] ?? 'signed nothing'}${failure}`,
  );
  record(
    'the consumer catches a typed 404',
    /^caught 404 not_found$/m.test(output) && outcome.code === 0,
    `${output.match(/^caught.*$/m)?.[0] ?? 'caught nothing'} (the whole script: ${took})${failure}`,
  );
}

/**
 * The installed client against the Worker, through a fetch that records the `Switchyard-Bookmark`
 * each request sent and each response carried: the read after a change must send the change's.
 */
async function checkBookmark(consumerDir: string, seeded: SeededWorker): Promise<void> {
  const script = [
    `const { createSwitchyardClient, unwrap } = await import('${CLIENT_PACKAGE}');`,
    "const header = 'Switchyard-Bookmark';",
    'const sent = [];',
    'const received = [];',
    'const recording = async (request) => {',
    '  sent.push(request.headers.get(header));',
    '  const response = await fetch(request);',
    '  received.push(response.headers.get(header));',
    '  return response;',
    '};',
    'const api = createSwitchyardClient({ baseUrl: process.env.SWITCHYARD_URL, apiKey: process.env.SWITCHYARD_API_KEY, fetch: recording });',
    "const device = unwrap(await api.POST('/v1/devices', { body: { name: 'Bookmarked', kind: 'iot' } }));",
    "unwrap(await api.GET('/v1/devices/{id}', { params: { path: { id: device.id } } }));",
    'console.log(JSON.stringify({ sent, received }));',
  ].join('\n');
  const outcome = await capture(process.execPath, ['--input-type=module', '--eval', script], {
    cwd: consumerDir,
    env: { ...process.env, SWITCHYARD_URL: seeded.worker.url, SWITCHYARD_API_KEY: seeded.apiKey },
    timeoutMs: 30_000,
  });
  let seen: { sent: Array<string | null>; received: Array<string | null> } | undefined;
  try {
    seen = JSON.parse(outcome.stdout.trim().split('\n').at(-1) ?? '') as typeof seen;
  } catch {
    seen = undefined;
  }
  const [change, read] = seen?.sent ?? [];
  const ok = outcome.code === 0 && change === null && seen?.received[0] != null && read === seen.received[0];
  record(
    'the client sends the bookmark of a change on the read after it',
    ok,
    ok
      ? `POST sent none and got one; the GET sent it back (${read?.length} characters)`
      : `saw ${JSON.stringify(seen)}${tail(outcome.output)}`,
  );
}

const work = await mkdtemp(join(tmpdir(), 'switchyard-package-'));
const consumerDir = join(work, 'consumer');
// Settles, never rejects: it runs while npm installs, and a rejection nobody awaits yet would end the process.
const seeding = startSeededWorker(join(work, 'state')).then(
  (seeded) => ({ seeded }),
  (error: unknown) => ({ error }),
);
try {
  const tarball = await checkTarball(work);
  const installed = tarball !== undefined && (await checkInstall(consumerDir, tarball));
  if (installed) {
    await checkTypes(consumerDir);
    await checkEntries(consumerDir);
  }
  const started = await seeding;
  if ('error' in started) record(`a local Worker with ${SEEDED_DEVICES} devices`, false, String(started.error));
  else {
    record(
      `a local Worker with ${SEEDED_DEVICES} devices`,
      true,
      `migrated, started and seeded in ${(started.seeded.tookMs / 1000).toFixed(1)} s`,
    );
    if (installed) {
      await checkRun(consumerDir, started.seeded);
      await checkBookmark(consumerDir, started.seeded);
    }
  }
} finally {
  const started = await seeding;
  if ('seeded' in started) await started.seeded.worker.stop();
  await rm(work, { recursive: true, force: true });
}
console.log(`package: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
