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
 * - the API's open vocabularies grow by design: error codes, event types, audit actions and target
 *   types, scopes. A new one is a new thing that can happen, which a client must expect (it branches
 *   on the ones it knows: docs/versioning.md), not a new shape. An enum made only of their values
 *   is given to oasdiff as `x-extensible-enum` (its way of saying a value set grows), and a list of
 *   them without its `maxItems` (the vocabulary's size), so that adding one is not a breaking change.
 *   An enum of anything else (a status, a kind) still is. For the same reason an event union (a
 *   `oneOf` whose every member is one event type's schema: `Event`, the webhook bodies) may gain
 *   members: the revision's union is compared with the alternatives the base has, so a new event
 *   type's schema is left out of the comparison, and a change to an existing one is still caught.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_ACTIONS, AUDIT_TARGET_TYPES } from '../../src/schemas/audit-events.ts';
import { EMITTED_EVENT_TYPES } from '../../src/schemas/events.ts';
import { JSON_VALUE_COMPONENT } from '../../src/schemas/json.ts';
import { ERROR_CATALOG } from '../../src/schemas/problem.ts';
import { SCOPES } from '../../src/schemas/scopes.ts';
import { WEBHOOK_EVENT_TYPES } from '../../src/schemas/webhook-events.ts';
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

/** The values of the vocabularies that grow (see the module comment). */
const OPEN_VOCABULARY = new Set<unknown>([
  ...Object.keys(ERROR_CATALOG),
  ...WEBHOOK_EVENT_TYPES,
  ...EMITTED_EVENT_TYPES,
  ...AUDIT_ACTIONS,
  ...AUDIT_TARGET_TYPES,
  ...SCOPES,
]);

type Node = { [keyword: string]: unknown };

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An enum of the open vocabulary, as oasdiff is to see it. A one-value enum is a constant (an
 * event's `type`, a problem's status), left as it is, unless it is a problem's `code`.
 */
function isOpenEnum(node: Node, key: string | undefined): boolean {
  const values = node.enum;
  if (!Array.isArray(values) || !values.every((value) => OPEN_VOCABULARY.has(value))) return false;
  return values.length > 1 || key === 'code';
}

/** Whether a list's items are of an open vocabulary, inline or by reference to a component that is one. */
function isOpenList(node: Node, openComponents: ReadonlySet<string>): boolean {
  const items = node.items;
  const isArray = node.type === 'array' || (Array.isArray(node.type) && node.type.includes('array'));
  if (!isArray || !isNode(items)) return false;
  return 'x-extensible-enum' in items || (typeof items.$ref === 'string' && openComponents.has(items.$ref));
}

function openVocabularies(value: unknown, openComponents: ReadonlySet<string>, key?: string): unknown {
  if (Array.isArray(value)) return value.map((item) => openVocabularies(item, openComponents));
  if (!isNode(value)) return value;
  const node = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, openVocabularies(child, openComponents, name)]));
  if (isOpenEnum(value, key)) {
    const { enum: values, ...rest } = node;
    return { ...rest, 'x-extensible-enum': values };
  }
  if (isOpenList(node, openComponents)) {
    const { maxItems: _vocabularySize, ...rest } = node;
    return rest;
  }
  return node;
}

/** The spec as oasdiff is given it: JsonValue reduced to its description, the open vocabularies extensible. */
function forOasdiff(spec: Spec): Spec {
  const schemas = spec.components?.schemas;
  const jsonValue = schemas?.[JSON_VALUE_COMPONENT] as { description?: string } | undefined;
  const withoutJsonValue =
    schemas === undefined
      ? spec
      : {
          ...spec,
          components: { ...spec.components, schemas: { ...schemas, [JSON_VALUE_COMPONENT]: { description: jsonValue?.description } } },
        };
  const openComponents = new Set(
    Object.entries(schemas ?? {})
      .filter(([, schema]) => isNode(schema) && isOpenEnum(schema, undefined))
      .map(([name]) => `#/components/schemas/${name}`),
  );
  return openVocabularies(withoutJsonValue, openComponents) as Spec;
}

interface Comparison {
  errors: OasdiffChange[];
  report: string;
  jsonValueChanged: boolean;
}

const EVENT_TYPES = new Set<unknown>([...WEBHOOK_EVENT_TYPES, ...EMITTED_EVENT_TYPES]);

/** The event type a component's schema is for (its `type` is that one value), if it is one. */
function eventTypeOf(schema: unknown): unknown {
  if (!isNode(schema) || !isNode(schema.properties) || !isNode(schema.properties.type)) return undefined;
  const values = schema.properties.type.enum;
  return Array.isArray(values) && values.length === 1 && EVENT_TYPES.has(values[0]) ? values[0] : undefined;
}

/**
 * The revision with each event union narrowed to the members the base's union has (see the module
 * comment): a union's new members are new event types, which a client must expect.
 */
function withBaseEventUnions(base: Spec, revision: Spec): Spec {
  const baseSchemas = base.components?.schemas ?? {};
  const schemas = revision.components?.schemas;
  if (schemas === undefined) return revision;
  const isEventRef = (member: unknown) =>
    isNode(member) &&
    typeof member.$ref === 'string' &&
    eventTypeOf(schemas[member.$ref.replace('#/components/schemas/', '')]) !== undefined;
  const narrowed = Object.fromEntries(
    Object.entries(schemas).map(([name, schema]) => {
      const baseUnion = baseSchemas[name];
      if (!isNode(schema) || !Array.isArray(schema.oneOf) || !schema.oneOf.every(isEventRef)) return [name, schema];
      if (!isNode(baseUnion) || !Array.isArray(baseUnion.oneOf)) return [name, schema];
      const known = new Set(baseUnion.oneOf.map((member) => (isNode(member) ? member.$ref : undefined)));
      return [name, { ...schema, oneOf: schema.oneOf.filter((member) => isNode(member) && known.has(member.$ref)) }];
    }),
  );
  return { ...revision, components: { ...revision.components, schemas: narrowed } };
}

async function compare(oasdiff: string, dir: string, base: Spec, revision: Spec, name: string): Promise<Comparison> {
  const basePath = join(dir, `${name}-base.json`);
  const revisionPath = join(dir, `${name}-revision.json`);
  await writeFile(basePath, JSON.stringify(forOasdiff(base)));
  await writeFile(revisionPath, JSON.stringify(forOasdiff(withBaseEventUnions(base, revision))));
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
