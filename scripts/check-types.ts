/**
 * `npm run types:check` (part of `npm test`): worker-configuration.d.ts is exactly what `npm run types`
 * (`wrangler types`) generates from wrangler.toml and .dev.vars.example now. It runs `npm run types` in
 * a mirror of the repository (every top-level entry linked, except the generated file and your own
 * .dev.vars) and compares the two files byte for byte. `wrangler types --check` compares only the
 * hash in the file's header, so it misses a hand edit of the file and a change in what the installed
 * wrangler generates; this does not.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, WRANGLER_ENV } from './lib/local-worker.ts';

const GENERATED = 'worker-configuration.d.ts';
/** Not linked into the mirror: the file under test, and what would make the result depend on the machine. */
const LEFT_OUT = new Set([GENERATED, '.dev.vars', '.wrangler', '.git']);

const mirror = await mkdtemp(join(tmpdir(), 'switchyard-types-'));
try {
  for (const entry of await readdir(ROOT)) {
    if (!LEFT_OUT.has(entry)) await symlink(join(ROOT, entry), join(mirror, entry));
  }
  const output = await new Promise<string>((resolve, reject) => {
    execFile('npm', ['run', '--silent', 'types'], { cwd: mirror, env: WRANGLER_ENV }, (error, stdout, stderr) =>
      error ? reject(new Error(`npm run types failed:\n${stdout}${stderr}`)) : resolve(stdout),
    );
  });
  const fresh = join(mirror, GENERATED);
  if (!existsSync(fresh)) throw new Error(`npm run types wrote no ${GENERATED}:\n${output}`);
  const expected = (await readFile(fresh, 'utf8')).split('\n');
  const committed = existsSync(join(ROOT, GENERATED)) ? (await readFile(join(ROOT, GENERATED), 'utf8')).split('\n') : [];
  const line = expected.findIndex((text, index) => committed[index] !== text);
  if (line === -1 && committed.length === expected.length) {
    console.log(`types: ${GENERATED} is up to date`);
  } else {
    const at = line === -1 ? expected.length : line;
    console.error(`types: ${GENERATED} is stale (line ${at + 1}): run \`npm run types\` and commit the result`);
    console.error(`  generated: ${expected[at] ?? '(end of file)'}`);
    console.error(`  committed: ${committed[at] ?? '(end of file)'}`);
    process.exitCode = 1;
  }
} finally {
  await rm(mirror, { recursive: true, force: true });
}
