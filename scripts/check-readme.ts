/**
 * `npm run test:readme`: every fenced code block in README.md runs as written, against a throwaway
 * local Worker (a fresh D1, an organisation with every scope on the free plan) started the way
 * `npm start` starts it. One line per block, then `readme: N passed, N failed`. The rules, by the
 * block's info string (```<language> [words]):
 *
 * - `ts`: type-checked together against the repository (scripts/tsconfig.json: Node and the generated
 *   client), then each run with this Node from a directory beside README.md (so `./generated/…`
 *   resolves as it does for a reader's file in the repository's root). Passes when it exits 0 within
 *   60 s and writes nothing to stderr.
 * - `sh`: run with bash -e -o pipefail from the repository's root; passes when it exits 0. `curl`
 *   fails on an HTTP error status (as `curl --fail-with-body`). A block is skipped, with the reason
 *   printed, when one of its commands is in SKIPPED below: each would install, start what the check
 *   has started already, run for minutes as a CI step of its own, or reach a Cloudflare account.
 * - `json`: parsed. `json <METHOD> <path>` says the block is that request's response: the check sends
 *   it (with the key, under /v1) and compares status and body. `http <METHOD> <path>`: each
 *   `Name: value` line is a header of that request's response.
 *   In both, a value ending in `…` stands for any value that starts with what precedes it.
 * - `text`, or no language: prose in a box (diagrams, layouts), not run.
 *
 * The substitutions, the same for every block: the README's address of `npm start`,
 * http://127.0.0.1:8787, is this check's Worker's; SWITCHYARD_API_KEY (which the README has the reader
 * set to the demo key) is this check's key; `npm run org:create` gets `--persist-to` this check's D1.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { SCOPES } from '../src/schemas/scopes.ts';
import { ensureDevVars, migrateLocal, ROOT, startLocalWorker, WRANGLER_ENV } from './lib/local-worker.ts';
import { bootstrapOrganization } from './lib/org-bootstrap.ts';

const README = join(ROOT, 'README.md');
/** Ignored by git (.gitignore); the snippets and the D1 live here while the check runs. */
const WORK = join(ROOT, '.readme-check');
const PERSIST_TO = join(WORK, 'state');
const PORT = Number(process.env.README_CHECK_PORT ?? 8793);
const README_URL = 'http://127.0.0.1:8787';
const SNIPPET_TIMEOUT_MS = 60_000;

/** Commands a `sh` block is skipped for (matched at the start of a command), and why. */
const SKIPPED: Array<[RegExp, string]> = [
  [/^npm (install|ci)\b/, 'installs dependencies: the check runs in the tree it installed'],
  [/^npm start\b/, 'the check starts the same Worker itself; npm run test:start checks npm start'],
  [/^npm test\b/, 'the whole test suite: the first step of CI'],
  [/^npm run fuzz\b/, 'minutes of schemathesis: a CI step of its own'],
  [/^npm run soak\b/, 'minutes of load: CI runs `npm run soak -- --smoke` as a step of its own'],
  [/^npm run bench\b/, 'about 7 minutes: CI runs a one-round smoke as a step of its own'],
  [/^npm run deploy\b/, 'deploys to a Cloudflare account; npm run test:deploy runs its dry run in CI'],
  [/^npx wrangler (login|secret|deploy)\b/, 'needs a Cloudflare account'],
  [/--remote\b/, 'writes to the deployed database'],
];

interface Block {
  line: number;
  language: string;
  words: string[];
  code: string;
}

interface Outcome {
  block: Block;
  status: 'ok' | 'FAIL' | 'skip';
  detail: string;
}

function blocks(markdown: string): Block[] {
  const found: Block[] = [];
  const lines = markdown.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const open = /^(`{3,})\s*(.*)$/.exec(lines[index] ?? '');
    if (!open) continue;
    const [, fence = '```', info = ''] = open;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !(lines[end] ?? '').startsWith(fence)) body.push(lines[end++] ?? '');
    const [language = '', ...words] = info.trim().split(/\s+/).filter(Boolean);
    found.push({ line: index + 1, language, words, code: `${body.join('\n')}\n` });
    index = end;
  }
  return found;
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${options.timeoutMs} ms)`;
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, options.timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => `        ${line}`)
    .join('\n');

/** `actual` matches `expected` where every value is equal, or `expected` is a string ending in `…` that `actual` starts with. */
function matches(expected: unknown, actual: unknown, path = ''): string | undefined {
  if (typeof expected === 'string' && expected.endsWith('…')) {
    return typeof actual === 'string' && actual.startsWith(expected.slice(0, -1))
      ? undefined
      : `${path || '/'}: ${JSON.stringify(actual)} does not start with ${JSON.stringify(expected.slice(0, -1))}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length)
      return `${path || '/'}: ${JSON.stringify(actual)} is not like ${JSON.stringify(expected)}`;
    for (const [index, item] of expected.entries()) {
      const problem = matches(item, actual[index], `${path}/${index}`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual))
      return `${path || '/'}: ${JSON.stringify(actual)} is not an object`;
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    for (const key of keys) {
      const problem = matches((expected as Record<string, unknown>)[key], (actual as Record<string, unknown>)[key], `${path}/${key}`);
      if (problem) return problem;
    }
    return undefined;
  }
  return expected === actual ? undefined : `${path || '/'}: ${JSON.stringify(actual)}, the README says ${JSON.stringify(expected)}`;
}

async function request(url: string, apiKey: string, words: string[]): Promise<Response> {
  const [method = 'GET', path = '/'] = words;
  const headers: Record<string, string> = path.startsWith('/v1') ? { Authorization: `Bearer ${apiKey}` } : {};
  const hasBody = method === 'POST' || method === 'PATCH';
  if (hasBody) headers['Content-Type'] = 'application/json';
  return fetch(`${url}${path}`, { method, headers, ...(hasBody ? { body: '{}' } : {}) });
}

const markdown = await readFile(README, 'utf8');
const found = blocks(markdown);
await rm(WORK, { recursive: true, force: true });
await mkdir(WORK, { recursive: true });
// A reader's file beside README.md imports './generated/client.ts': so does a snippet here.
await symlink(join(ROOT, 'generated'), join(WORK, 'generated'));
await ensureDevVars();
await migrateLocal(PERSIST_TO);
const org = await bootstrapOrganization({ name: 'README', scopes: [...SCOPES], plan: 'free', mode: 'test', persistTo: PERSIST_TO });
const worker = await startLocalWorker({ port: PORT, persistTo: PERSIST_TO, quiet: true, log: 'ignore' });
const substitute = (code: string) => code.replaceAll(README_URL, worker.url);
const env: NodeJS.ProcessEnv = { ...WRANGLER_ENV, SWITCHYARD_API_KEY: org.apiKey, WRANGLER_LOG: 'warn' };
const outcomes: Outcome[] = [];

try {
  // Responses first: a `http` block shows the headers of the organisation's first request of its class.
  for (const block of found.filter((candidate) => candidate.language === 'json' || candidate.language === 'http')) {
    const response = block.words.length > 0 ? await request(worker.url, org.apiKey, block.words) : undefined;
    const what = block.words.length > 0 ? `the response to ${block.words.join(' ')}` : 'parsed';
    if (block.language === 'json') {
      let expected: unknown;
      try {
        expected = JSON.parse(substitute(block.code));
      } catch (error) {
        outcomes.push({ block, status: 'FAIL', detail: `not JSON: ${(error as Error).message}` });
        continue;
      }
      if (!response) {
        outcomes.push({ block, status: 'ok', detail: what });
        continue;
      }
      const actual: unknown = await response.json().catch(() => undefined);
      const problem = matches(expected, actual);
      outcomes.push(problem ? { block, status: 'FAIL', detail: `${what}: ${problem}` } : { block, status: 'ok', detail: what });
    } else {
      if (!response) {
        outcomes.push({ block, status: 'FAIL', detail: 'an http block names its request: ```http <METHOD> <path>' });
        continue;
      }
      await response.body?.cancel();
      const problems = block.code
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => {
          const [name = '', ...rest] = line.split(':');
          const value = rest.join(':').trim();
          const got = response.headers.get(name.trim());
          return matches(value, got ?? undefined) === undefined ? undefined : `${name}: ${got ?? '(absent)'}, the README says ${value}`;
        })
        .filter((problem) => problem !== undefined);
      outcomes.push(problems.length > 0 ? { block, status: 'FAIL', detail: problems.join('; ') } : { block, status: 'ok', detail: what });
    }
  }

  const tsBlocks = found.filter((block) => block.language === 'ts');
  const files = new Map<Block, string>();
  for (const block of tsBlocks) {
    const file = join(WORK, `readme-${block.line}.ts`);
    await writeFile(file, substitute(block.code));
    files.set(block, file);
  }
  // Every snippet a module of its own (top-level await), checked with the scripts' settings.
  await writeFile(
    join(WORK, 'tsconfig.json'),
    JSON.stringify({ extends: '../scripts/tsconfig.json', compilerOptions: { moduleDetection: 'force' }, include: ['readme-*.ts'] }),
  );
  const tsc = await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', WORK], { cwd: ROOT, env, timeoutMs: 120_000 });
  const typeErrors = new Map<string, string[]>();
  for (const line of tsc.stdout.split('\n')) {
    const file = /^(?<file>[^(]+)\(/.exec(line)?.groups?.file;
    if (file) typeErrors.set(join(ROOT, file), [...(typeErrors.get(join(ROOT, file)) ?? []), line]);
  }
  if (tsc.code !== 0 && typeErrors.size === 0) console.error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);

  for (const block of found) {
    if (block.language === 'ts') {
      const file = files.get(block) ?? '';
      const errors = typeErrors.get(file);
      if (errors) {
        outcomes.push({
          block,
          status: 'FAIL',
          detail: `type errors:\n${indent(errors.join('\n').replaceAll(`${relative(ROOT, file)}`, 'snippet'))}`,
        });
        continue;
      }
      const result = await run(process.execPath, [file], { cwd: WORK, env, timeoutMs: SNIPPET_TIMEOUT_MS });
      const passed = result.code === 0 && result.stderr.trim() === '';
      outcomes.push({
        block,
        status: passed ? 'ok' : 'FAIL',
        detail: passed
          ? `type-checked, ran (${result.stdout.trim().split('\n').filter(Boolean).length} lines of output)`
          : `exit ${result.code}:\n${indent(`${result.stdout}${result.stderr}`)}`,
      });
    } else if (block.language === 'sh') {
      const commands = block.code
        .split('\n')
        .flatMap((line) => line.replace(/\s#.*$/, '').split(/&&|;/))
        .map((command) => command.trim())
        .filter((command) => command !== '' && !command.startsWith('#'));
      // Each reason once, with the commands it applies to (as far as the rule reads them).
      const reasons = new Map<string, Set<string>>();
      for (const command of commands) {
        for (const [pattern, reason] of SKIPPED) {
          const matched = pattern.exec(command)?.[0];
          if (matched) reasons.set(reason, (reasons.get(reason) ?? new Set()).add(`\`${matched}\``));
        }
      }
      if (reasons.size > 0) {
        const detail = [...reasons].map(([reason, matched]) => `${[...matched].join(', ')}: ${reason}`).join('; ');
        outcomes.push({ block, status: 'skip', detail });
        continue;
      }
      const script = [
        'set -eo pipefail',
        'curl() { command curl --silent --show-error --fail-with-body "$@"; }',
        substitute(block.code).replace(/^(\s*npm run org:create\b.*)$/gm, `$1 --persist-to ${JSON.stringify(PERSIST_TO)}`),
      ].join('\n');
      const result = await run('bash', ['-c', script], { cwd: ROOT, env, timeoutMs: SNIPPET_TIMEOUT_MS });
      outcomes.push({
        block,
        status: result.code === 0 ? 'ok' : 'FAIL',
        detail:
          result.code === 0
            ? `ran ${commands.length} command${commands.length === 1 ? '' : 's'}`
            : `exit ${result.code}:\n${indent(`${result.stdout}${result.stderr}`)}`,
      });
    } else if (block.language === 'text' || block.language === '') {
      outcomes.push({ block, status: 'skip', detail: 'text, not code' });
    } else if (block.language !== 'json' && block.language !== 'http') {
      outcomes.push({
        block,
        status: 'FAIL',
        detail: `no rule for \`${block.language}\` blocks: give it one in scripts/check-readme.ts, or mark it text`,
      });
    }
  }
} finally {
  await worker.stop();
  await rm(WORK, { recursive: true, force: true });
}

outcomes.sort((a, b) => a.block.line - b.block.line);
for (const { block, status, detail } of outcomes) {
  console.log(
    `${status.padEnd(4)}  README.md:${block.line} ${block.language || 'text'}${block.words.length ? ` ${block.words.join(' ')}` : ''}: ${detail}`,
  );
}
const passed = outcomes.filter((outcome) => outcome.status === 'ok').length;
const failed = outcomes.filter((outcome) => outcome.status === 'FAIL').length;
console.log(`(${outcomes.length - passed - failed} not run: skipped or text)`);
console.log(`readme: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
