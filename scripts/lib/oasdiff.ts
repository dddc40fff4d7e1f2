/**
 * oasdiff (github.com/oasdiff/oasdiff), the breaking-change checker `npm run spec:check` runs:
 * pinned, installed into .tools/bin/ through the Go toolchain (`go install`, from the Go module
 * proxy) the first time it is needed, and run on two spec files.
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const OASDIFF_VERSION = '1.39.0';
const MODULE = `github.com/oasdiff/oasdiff@v${OASDIFF_VERSION}`;
/** Where a Go toolchain is when it is not on PATH (the official tarball's place). */
const GO_CANDIDATES = ['go', '/usr/local/go/bin/go'];

/** One breaking change as `oasdiff breaking --format json` reports it. */
export interface OasdiffChange {
  id: string;
  text: string;
  /** 3 ERR (breaks clients), 2 WARN (may), 1 INFO. */
  level: number;
  operation?: string;
  operationId?: string;
  path?: string;
  section?: string;
}

export const ERR_LEVEL = 3;

async function installedVersion(binary: string): Promise<string | undefined> {
  try {
    await access(binary);
    const { stdout } = await run(binary, ['--version']);
    return /(\d+\.\d+\.\d+)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

async function findGo(): Promise<string | undefined> {
  for (const candidate of GO_CANDIDATES) {
    try {
      await run(candidate, ['version']);
      return candidate;
    } catch {
      // Not this one.
    }
  }
  return undefined;
}

/** The path of the pinned oasdiff, installing it into `<root>/.tools/bin` first if it is missing or another version. */
export async function ensureOasdiff(root: string): Promise<string> {
  const bin = join(root, '.tools', 'bin');
  const binary = join(bin, 'oasdiff');
  if ((await installedVersion(binary)) === OASDIFF_VERSION) return binary;
  const go = await findGo();
  if (go === undefined) {
    throw new Error(
      `npm run spec:check needs oasdiff ${OASDIFF_VERSION}, installed with Go: no \`go\` on PATH or at /usr/local/go/bin. Install Go (https://go.dev/doc/install), or put oasdiff ${OASDIFF_VERSION} at ${binary}.`,
    );
  }
  console.log(`installing oasdiff ${OASDIFF_VERSION} into ${bin} (go install ${MODULE})`);
  try {
    await run(go, ['install', MODULE], { env: { ...process.env, GOBIN: bin }, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(`go install ${MODULE} failed:\n${stderr}`);
  }
  const version = await installedVersion(binary);
  if (version !== OASDIFF_VERSION)
    throw new Error(`go install ${MODULE} did not leave oasdiff ${OASDIFF_VERSION} at ${binary} (found ${version})`);
  return binary;
}

/** The breaking changes from `base` to `revision` (spec files), every level. */
export async function breakingChanges(oasdiff: string, base: string, revision: string): Promise<OasdiffChange[]> {
  const { stdout } = await run(oasdiff, ['breaking', base, revision, '--format', 'json'], { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim() === '' ? [] : (JSON.parse(stdout) as OasdiffChange[]);
}

/** oasdiff's own report of the same comparison, for people. */
export async function breakingReport(oasdiff: string, base: string, revision: string): Promise<string> {
  const { stdout } = await run(oasdiff, ['breaking', base, revision, '--color', 'never'], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
