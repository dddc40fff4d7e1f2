/**
 * The releases as code (src/versions/): ordered dates, each change module between two adjacent
 * versions, every operation it names a real one, and the transforms of the real change.
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { buildOpenApiDocument } from '../../src/openapi.ts';
import { differsIn, requestFrom, responseIn } from '../../src/versions/render.ts';
import { API_VERSION_PATTERN, API_VERSIONS, NEWEST_API_VERSION, RELEASES } from '../../src/versions/versions.ts';

const document = buildOpenApiDocument(createApp());
const operationIds = new Set(
  [...Object.values(document.paths ?? {}), ...Object.values(document.webhooks ?? {})].flatMap((item) =>
    Object.values(item as Record<string, { operationId?: string }>).flatMap((operation) => operation.operationId ?? []),
  ),
);
const [FIRST] = API_VERSIONS;

describe('the releases', () => {
  it('are real dates in strictly increasing order, the newest last', () => {
    for (const release of RELEASES) {
      expect(release.date).toMatch(API_VERSION_PATTERN);
      expect(new Date(`${release.date}T00:00:00Z`).toISOString().slice(0, 10)).toBe(release.date);
    }
    expect([...API_VERSIONS].sort()).toEqual(API_VERSIONS);
    expect(new Set(API_VERSIONS).size).toBe(API_VERSIONS.length);
    expect(NEWEST_API_VERSION).toBe(API_VERSIONS.at(-1));
  });

  it('put each change module between two adjacent versions: the first has none, every later one at least one, none twice', () => {
    expect(RELEASES[0]?.changes).toEqual([]);
    for (const release of RELEASES.slice(1)) expect(release.changes.length, release.date).toBeGreaterThan(0);
    const changes = RELEASES.flatMap((release) => release.changes);
    expect(new Set(changes).size).toBe(changes.length);
    expect(new Set(changes.map((change) => change.name)).size).toBe(changes.length);
  });

  it('name only operations the spec has, each change described', () => {
    for (const change of RELEASES.flatMap((release) => release.changes)) {
      expect(change.description.length, change.name).toBeGreaterThan(20);
      for (const operationId of [...Object.keys(change.responses), ...Object.keys(change.requests ?? {})]) {
        expect(operationIds, `${change.name}: ${operationId}`).toContain(operationId);
      }
    }
  });

  it('are listed in the spec, with what each changed', () => {
    const info = document.info as typeof document.info & { 'x-api-versions': Array<{ version: string; changes: unknown[] }> };
    expect(info['x-api-versions'].map((entry) => entry.version)).toEqual(API_VERSIONS);
    expect(info.description).toContain('## Versions');
    for (const change of RELEASES.flatMap((release) => release.changes)) expect(info.description).toContain(change.description);
  });
});

describe('2026-12-08: max_participants is renamed max_connections', () => {
  const session = { id: 'ses_1', status: 'active', max_connections: 5, expires_at: 'later' };

  it('shows an older client the old name in its place, and the newest the body as it is', () => {
    const old = responseIn(FIRST, 'getSession', session);
    expect(Object.keys(old)).toEqual(['id', 'status', 'max_participants', 'expires_at']);
    expect(old.max_participants).toBe(5);
    expect(responseIn(NEWEST_API_VERSION, 'getSession', session)).toBe(session);
    expect(responseIn(FIRST, 'getDevice', session)).toBe(session);
  });

  it('renames inside lists and the session events only', () => {
    const page = responseIn(FIRST, 'listEvents', {
      data: [
        { id: 'msg_1', type: 'session.created', data: session },
        { id: 'msg_2', type: 'device.created', data: { max_connections: 1 } },
      ],
      next_cursor: null,
    });
    expect(page).toEqual({
      data: [
        { id: 'msg_1', type: 'session.created', data: { id: 'ses_1', status: 'active', max_participants: 5, expires_at: 'later' } },
        { id: 'msg_2', type: 'device.created', data: { max_connections: 1 } },
      ],
      next_cursor: null,
    });
  });

  it('brings an older client’s request up to the new name, and leaves one already in it alone', () => {
    expect(requestFrom(FIRST, 'createSession', { max_participants: 3, ttl_seconds: 60 })).toEqual({ max_connections: 3, ttl_seconds: 60 });
    expect(requestFrom(FIRST, 'createSession', { max_connections: 3 })).toEqual({ max_connections: 3 });
    expect(differsIn(FIRST, 'createSession')).toBe(true);
    expect(differsIn(NEWEST_API_VERSION, 'createSession')).toBe(false);
    expect(differsIn(FIRST, 'listDevices')).toBe(false);
  });
});
