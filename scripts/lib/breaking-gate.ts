/**
 * The breaking-change gate of `npm run spec:check` (docs/versioning.md). The spec of every released
 * version is kept in openapi/versions/<date>.json, written by `npm run spec` when the version is
 * added to src/versions/versions.ts. With oasdiff (lib/oasdiff.ts), it fails when:
 * - the current spec breaks the newest released version (an ERR-level change): a change clients
 *   of that version would notice needs a new version and its change module;
 * - a released version breaks the one before it on an operation that none of its change modules
 *   transforms (or it breaks it and declares no change at all): a client pinned to the older
 *   version would get the new shape.
 *
 * Two things oasdiff is given differently from the spec:
 * - the free-form JSON component (JsonValue, src/schemas/json.ts) is a depth-bounded chain of
 *   `anyOf`s that oasdiff expands exponentially (minutes per comparison): it is compared here as a
 *   whole, and oasdiff sees its description only;
 * - a problem's `code` (`Problem`, `Problem404`…) is an enum of the error catalogue, which grows: a
 *   new code is a new way to fail, which clients branch on by code and must expect (the README and
 *   docs/versioning.md say so), not a new shape. oasdiff sees it as `x-extensible-enum`, its way of
 *   saying so, so that a code added is not a breaking change (a code removed still is not checked
 *   here: the catalogue test holds every code to its page).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JSON_VALUE_COMPONENT } from '../../src/schemas/json.ts';
import { RELEASES } from '../../src/versions/versions.ts';
import { breakingChanges, breakingReport, ERR_LEVEL, ensureOasdiff, type OasdiffChange } from './oasdiff.ts';

export const VERSIONS_DIR = 'openapi/versions';

interface Spec {
  components?: { schemas?: Record<string, unknown> };
}

export function snapshotPath(version: string): string {
  return `${VERSIONS_DIR}/${version}.json`;
}

/** The snapshots the releases need that are missing: only the newest may be taken now, from the current spec. */
export async function missingSnapshots(root: string, specText: string): Promise<Array<[path: string, text: string]>> {
  const present = new Set(await readdir(join(root, VERSIONS_DIR)).catch(() => []));
  const orphans = [...present].filter((name) => !RELEASES.some((release) => `${release.date}.json` === name));
  if (orphans.length > 0) {
    throw new Error(
      `${VERSIONS_DIR} holds ${orphans.join(', ')}, which no release in src/versions/versions.ts names: a released version is never removed`,
    );
  }
  const missing = RELEASES.filter((release) => !present.has(`${release.date}.json`));
  const newest = RELEASES.at(-1);
  for (const release of missing) {
    if (release !== newest)
      throw new Error(`${snapshotPath(release.date)} is missing, and only the newest version's spec can be taken now`);
  }
  return missing.map((release) => [snapshotPath(release.date), specText]);
}

function jsonValueOf(spec: Spec): string {
  return JSON.stringify(spec.components?.schemas?.[JSON_VALUE_COMPONENT] ?? null);
}

const PROBLEM_SCHEMA = /^Problem\d*$/;

interface ProblemShape {
  properties?: { code?: { enum?: unknown[]; [keyword: string]: unknown } };
}

/** A problem schema whose `code` enum is declared extensible. */
function extensibleCode(schema: ProblemShape): ProblemShape {
  const code = schema.properties?.code;
  if (code?.enum === undefined) return schema;
  const { enum: codes, ...rest } = code;
  return { ...schema, properties: { ...schema.properties, code: { ...rest, 'x-extensible-enum': codes } } };
}

/** The spec as oasdiff is given it: JsonValue reduced to its description, problem codes extensible. */
function forOasdiff(spec: Spec): Spec {
  const schemas = spec.components?.schemas;
  if (schemas === undefined) return spec;
  const jsonValue = schemas[JSON_VALUE_COMPONENT] as { description?: string } | undefined;
  const given = Object.fromEntries(
    Object.entries(schemas).map(([name, schema]) => {
      if (name === JSON_VALUE_COMPONENT) return [name, { description: jsonValue?.description }];
      return [name, PROBLEM_SCHEMA.test(name) ? extensibleCode(schema as ProblemShape) : schema];
    }),
  );
  return { ...spec, components: { ...spec.components, schemas: given } };
}

interface Comparison {
  errors: OasdiffChange[];
  report: string;
  jsonValueChanged: boolean;
}

async function compare(oasdiff: string, dir: string, base: Spec, revision: Spec, name: string): Promise<Comparison> {
  const basePath = join(dir, `${name}-base.json`);
  const revisionPath = join(dir, `${name}-revision.json`);
  await writeFile(basePath, JSON.stringify(forOasdiff(base)));
  await writeFile(revisionPath, JSON.stringify(forOasdiff(revision)));
  const errors = (await breakingChanges(oasdiff, basePath, revisionPath)).filter((change) => change.level >= ERR_LEVEL);
  const report = errors.length === 0 ? '' : await breakingReport(oasdiff, basePath, revisionPath);
  return { errors, report, jsonValueChanged: jsonValueOf(base) !== jsonValueOf(revision) };
}

/** What the gate refuses, one paragraph each; empty when the current spec and every release pass. */
export async function breakingChangeFailures(root: string, current: Spec): Promise<string[]> {
  const oasdiff = await ensureOasdiff(root);
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-oasdiff-'));
  const failures: string[] = [];
  try {
    const specs = await Promise.all(
      RELEASES.map(async (release) => JSON.parse(await readFile(join(root, snapshotPath(release.date)), 'utf8')) as Spec),
    );
    for (const [index, release] of RELEASES.entries()) {
      const before = RELEASES[index - 1];
      const [baseSpec, spec] = [specs[index - 1], specs[index]];
      if (before === undefined || baseSpec === undefined || spec === undefined) continue;
      const { errors, jsonValueChanged } = await compare(oasdiff, dir, baseSpec, spec, release.date);
      const transformed = new Set(
        release.changes.flatMap((change) => [...Object.keys(change.responses), ...Object.keys(change.requests ?? {})]),
      );
      if ((errors.length > 0 || jsonValueChanged) && release.changes.length === 0) {
        failures.push(`${release.date} breaks ${before.date} but declares no change module.`);
      }
      for (const error of errors.filter((change) => change.operationId === undefined || !transformed.has(change.operationId))) {
        failures.push(
          `${release.date} breaks ${before.date} in ${error.operation ?? ''} ${error.path ?? ''} (${error.operationId ?? 'no operation'}): ${error.text} [${error.id}]; no change module of ${release.date} transforms that operation, so a client pinned to ${before.date} would get the new shape.`,
        );
      }
    }
    const newest = RELEASES.at(-1);
    const newestSpec = specs.at(-1);
    if (newest !== undefined && newestSpec !== undefined) {
      const { errors, report, jsonValueChanged } = await compare(oasdiff, dir, newestSpec, current, 'current');
      if (errors.length > 0) {
        failures.push(
          `The current spec breaks the newest released version, ${newest.date} (${snapshotPath(newest.date)}): ${errors.length} breaking change(s). Release a new version with a change module that keeps clients of ${newest.date} on the old shape (docs/versioning.md), or make the change additive.\n\n${report}`,
        );
      }
      if (jsonValueChanged) {
        failures.push(
          `The free-form JSON component ${JSON_VALUE_COMPONENT} differs from ${newest.date}'s: that changes what requests and responses may hold; release it as a new version.`,
        );
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return failures;
}
