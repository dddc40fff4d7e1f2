/**
 * Builds every benchmark target with the same bundler: `wrangler deploy --dry-run`, Switchyard from
 * the repository's wrangler.toml, each reference Worker from a small generated config. Also the
 * bundle-size figure: the minified build, raw and gzipped. {@link buildEnvironment} is also how
 * `npm run test:bundle` builds what an environment of wrangler.toml ships.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type * as bareBroadcast from '../../../bench/reference/bare-broadcast.ts';
import type * as bareHono from '../../../bench/reference/bare-hono.ts';
import type * as bareOk from '../../../bench/reference/bare-ok.ts';
import { ROOT, WRANGLER_ENV } from '../local-worker.ts';

const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');
/** The environment Switchyard ships as (`npm run deploy`). */
export const SHIPPED_ENV = 'production';

/** The reference Workers (bench/reference/<name>.ts); these type imports also get them type-checked with the scripts. */
interface ReferenceModules {
  'bare-ok': typeof bareOk;
  'bare-hono': typeof bareHono;
  'bare-broadcast': typeof bareBroadcast;
}
export type ReferenceName = keyof ReferenceModules;

export interface Builds {
  compatibilityDate: string;
  switchyard: string;
  references: Record<ReferenceName, string>;
  bundle: { minifiedBytes: number; gzipBytes: number };
}

function wrangler(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      WRANGLER,
      args,
      { cwd: ROOT, env: { ...WRANGLER_ENV, WRANGLER_LOG: 'error' }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`wrangler ${args.join(' ')} failed:\n${stderr || stdout || error.message}`));
        else resolve();
      },
    );
  });
}

/** The bundled .js wrangler wrote to `dir` (one per build, beside its source map). */
async function bundleIn(dir: string): Promise<string> {
  const scripts = (await readdir(dir)).filter((file) => file.endsWith('.js'));
  if (scripts.length !== 1) throw new Error(`expected one .js bundle in ${dir}, found ${scripts.join(', ') || 'none'}`);
  return join(dir, scripts[0] as string);
}

/** compatibility_date from wrangler.toml, so every target runs with the date Switchyard ships with. */
export async function shippedCompatibilityDate(): Promise<string> {
  const toml = await readFile(join(ROOT, 'wrangler.toml'), 'utf8');
  const date = /^compatibility_date\s*=\s*"(\d{4}-\d{2}-\d{2})"/m.exec(toml)?.[1];
  if (!date) throw new Error('no compatibility_date in wrangler.toml');
  return date;
}

/** Bundles `environment` of wrangler.toml into `outDir` as `wrangler deploy` would; returns the bundle's path. */
export async function buildEnvironment(environment: string, outDir: string, ...extra: string[]): Promise<string> {
  await wrangler(['deploy', '--dry-run', '--outdir', outDir, '--env', environment, ...extra]);
  return bundleIn(outDir);
}

function referenceConfig(name: ReferenceName, compatibilityDate: string): Record<string, unknown> {
  const config: Record<string, unknown> = {
    name,
    main: join(ROOT, 'bench', 'reference', `${name}.ts`),
    compatibility_date: compatibilityDate,
  };
  if (name === 'bare-hono') {
    config.d1_databases = [{ binding: 'DB', database_name: 'bench', database_id: '00000000-0000-0000-0000-000000000000' }];
  }
  if (name === 'bare-broadcast') {
    config.durable_objects = { bindings: [{ name: 'ROOM', class_name: 'BroadcastRoom' }] };
    config.migrations = [{ tag: 'v1', new_sqlite_classes: ['BroadcastRoom'] }];
  }
  return config;
}

export async function buildAll(tmpDir: string): Promise<Builds> {
  const compatibilityDate = await shippedCompatibilityDate();
  const out = (name: string) => join(tmpDir, 'build', name);
  const dryRun = (outDir: string, ...extra: string[]) => ['deploy', '--dry-run', '--outdir', outDir, ...extra];
  const references: ReferenceName[] = ['bare-ok', 'bare-hono', 'bare-broadcast'];
  await mkdir(join(tmpDir, 'config'), { recursive: true });
  const switchyard = buildEnvironment(SHIPPED_ENV, out('switchyard'));
  const switchyardMinified = buildEnvironment(SHIPPED_ENV, out('switchyard-minified'), '--minify');
  const jobs: Promise<unknown>[] = [switchyard, switchyardMinified];
  for (const name of references) {
    const configPath = join(tmpDir, 'config', `${name}.json`);
    await writeFile(configPath, JSON.stringify(referenceConfig(name, compatibilityDate), null, 2));
    jobs.push(wrangler(dryRun(out(name), '--config', configPath)));
  }
  await Promise.all(jobs);
  const minified = await readFile(await switchyardMinified);
  return {
    compatibilityDate,
    switchyard: await switchyard,
    references: {
      'bare-ok': await bundleIn(out('bare-ok')),
      'bare-hono': await bundleIn(out('bare-hono')),
      'bare-broadcast': await bundleIn(out('bare-broadcast')),
    },
    bundle: { minifiedBytes: minified.byteLength, gzipBytes: gzipSync(minified).byteLength },
  };
}
