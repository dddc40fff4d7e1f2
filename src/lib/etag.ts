/**
 * @module
 * Entity tags from a resource's version, and the RFC 9110 comparisons: weak for If-None-Match
 * (a `W/` prefix is ignored), strong for If-Match (a weak tag never matches).
 */

export function versionEtag(version: number): string {
  return `"v${version}"`;
}

function candidates(header: string): string[] {
  return header
    .split(',')
    .map((tag) => tag.trim())
    .filter(Boolean);
}

/** If-None-Match: true when the client already has this representation. */
export function noneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return candidates(header).some((tag) => tag === '*' || tag.replace(/^W\//, '') === etag);
}

/** If-Match: true when the request may proceed (absent header, `*`, or a strong match). */
export function ifMatchHolds(header: string | undefined, etag: string): boolean {
  if (header === undefined) return true;
  return candidates(header).some((tag) => tag === '*' || tag === etag);
}
