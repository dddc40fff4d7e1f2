/**
 * @module
 * The released versions of the API, oldest first, each named by the date it was released
 * (`YYYY-MM-DD`, as Stripe names its versions), with the change modules that lead to it from the
 * version before. Adding a date here is releasing a version: `npm run spec` then writes its spec
 * to openapi/versions/<date>.json, which `npm run spec:check` holds the next breaking change to
 * (docs/versioning.md).
 */
import type { VersionChange } from './change.ts';
import { sessionMaxConnections } from './changes/session-max-connections.ts';

export interface Release {
  /** The version's name: the date it was released. */
  date: string;
  /** What changed from the version before (none for the first). */
  changes: readonly VersionChange[];
}

// Oldest first. Never reorder or remove one: organisations are pinned to them.
const RELEASED = [
  { date: '2026-12-01', changes: [] },
  { date: '2026-12-08', changes: [sessionMaxConnections] },
] as const satisfies readonly Release[];

export type ApiVersion = (typeof RELEASED)[number]['date'];

/** The releases, oldest first. */
export const RELEASES: ReadonlyArray<Release & { date: ApiVersion }> = RELEASED;

export const API_VERSIONS = RELEASES.map((release) => release.date) as [ApiVersion, ...ApiVersion[]];

/** The version handlers speak, the spec describes, and new organisations are pinned to. */
export const NEWEST_API_VERSION: ApiVersion = API_VERSIONS[API_VERSIONS.length - 1] as ApiVersion;

/** The version organisations created before dated versions existed were pinned to (migration 0016). */
export const FIRST_API_VERSION: ApiVersion = API_VERSIONS[0];

/** The request and response header naming a version. */
export const API_VERSION_HEADER = 'Switchyard-Version';

export const API_VERSION_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

export function isApiVersion(value: string): value is ApiVersion {
  return (API_VERSIONS as readonly string[]).includes(value);
}
