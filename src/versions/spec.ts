/**
 * @module
 * How the spec lists the versions: `info.x-api-versions` for tools, and a section of the info
 * description for people. Both come from the releases (versions.ts), so they cannot disagree.
 */
import { API_VERSION_HEADER, NEWEST_API_VERSION, RELEASES } from './versions.ts';

/** One version as `info.x-api-versions` lists it: its date and what it changed, by operation. */
export interface VersionEntry {
  version: string;
  changes: Array<{ name: string; description: string; operations: string[] }>;
}

export const API_VERSIONS_EXTENSION: VersionEntry[] = RELEASES.map((release) => ({
  version: release.date,
  changes: release.changes.map((change) => ({
    name: change.name,
    description: change.description,
    operations: [...new Set([...Object.keys(change.responses), ...Object.keys(change.requests ?? {})])].sort(),
  })),
}));

export function versionsDescription(): string {
  const lines = [...RELEASES].reverse().map((release) => {
    const changes = release.changes.map((change) => change.description).join(' ');
    return `- \`${release.date}\`${release.date === NEWEST_API_VERSION ? ' (newest)' : ''}: ${changes || 'the first dated version.'}`;
  });
  return [
    '## Versions',
    '',
    `The API has dated versions. A request names one in \`${API_VERSION_HEADER}\`; without it, the organisation's default applies (\`default_api_version\`, pinned when the organisation was created and changed with \`PATCH /v1/organization\`). Every response names the version it was rendered in. This document describes the newest, \`${NEWEST_API_VERSION}\`; what each version changed, newest first:`,
    '',
    ...lines,
  ].join('\n');
}
