/**
 * Re-importing an organisation export into another organisation through the public API, and
 * comparing two exports as objects: the round trip that shows an archive holds what it says
 * (test/routes/organization-exports/round-trip.test.ts runs it in the Workers runtime).
 *
 * What the API can create is imported: devices, sessions (their settings, allowed devices, whether
 * they ended, and the server messages of their history, published again in order), API keys (new
 * secrets: an archive never holds one; the mode of the importing key) and webhook endpoints (new signing secrets, likewise). What
 * the API only records, audit events and events, is not importable: the import writes its own.
 * Messages published by participants over a socket cannot be published in their name over HTTP;
 * the import refuses an archive that has them rather than changing their sender.
 *
 * The comparison maps each imported object's id to its original's and leaves out what the API
 * assigns (ids, times, versions, key prefixes, who created a key), so two exports compare equal
 * exactly when they hold the same objects.
 */
import type { SwitchyardClient } from '../../generated/client.ts';

type Line = Record<string, unknown>;
export type ExportLines = Record<'devices' | 'sessions' | 'messages' | 'api_keys' | 'webhook_endpoints', Line[]>;

/** Original id → imported id, for every object the import made. */
export type IdMap = Map<string, string>;

function must<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.data === undefined) throw new Error(`could not ${what}: ${result.response.status} ${JSON.stringify(result.error)}`);
  return result.data;
}

/** Imports the lines into the organisation `api` acts for; returns the id mapping. */
export async function importExport(api: SwitchyardClient, lines: ExportLines): Promise<IdMap> {
  const ids: IdMap = new Map();
  for (const device of lines.devices) {
    const body = {
      name: device.name as string,
      kind: device.kind as 'iot',
      ...(device.external_id === null ? {} : { external_id: device.external_id as string }),
      metadata: device.metadata as Record<string, string>,
      tags: device.tags as string[],
      status: device.status as 'active',
    };
    ids.set(device.id as string, must(await api.POST('/v1/devices', { body }), 'create a device').id);
  }
  for (const session of lines.sessions) {
    const allowed = session.allowed_device_ids as string[] | null;
    const ttlSeconds = Math.round((Date.parse(session.expires_at as string) - Date.parse(session.created_at as string)) / 1000);
    const body = {
      ...(allowed === null ? {} : { allowed_device_ids: allowed.map((id) => ids.get(id) ?? id) }),
      max_connections: session.max_connections as number,
      ttl_seconds: ttlSeconds,
      presence_grace_seconds: session.presence_grace_seconds as number,
      max_frame_bytes: session.max_frame_bytes as number,
      frames_per_second: session.frames_per_second as number,
    };
    const created = must(await api.POST('/v1/sessions', { body }), 'open a session');
    ids.set(session.id as string, created.id);
    for (const message of lines.messages.filter((line) => line.session_id === session.id)) {
      if (message.type !== 'message' || message.sender !== 'server') {
        throw new Error(
          `session ${String(session.id)} has a ${String(message.type)} from ${String(message.sender)}: only server messages can be published`,
        );
      }
      must(
        await api.POST('/v1/sessions/{id}/messages', { params: { path: { id: created.id } }, body: { payload: message.payload } }),
        'publish',
      );
    }
    if (session.status === 'ended')
      must(await api.POST('/v1/sessions/{id}/end', { params: { path: { id: created.id } } }), 'end a session');
  }
  for (const key of lines.api_keys) {
    const expiresAt = key.expires_at as string | null;
    const body = {
      name: key.name as string,
      scopes: key.scopes as Array<'devices:read'>,
      ...(expiresAt === null ? {} : { expires_in_seconds: Math.max(60, Math.round((Date.parse(expiresAt) - Date.now()) / 1000)) }),
    };
    ids.set(key.id as string, must(await api.POST('/v1/api-keys', { body }), 'create an API key').id);
  }
  for (const endpoint of lines.webhook_endpoints) {
    const body = {
      url: endpoint.url as string,
      description: endpoint.description as string,
      event_types: endpoint.event_types as Array<'device.created'> | null,
      enabled: endpoint.enabled as boolean,
    };
    ids.set(endpoint.id as string, must(await api.POST('/v1/webhook-endpoints', { body }), 'create a webhook endpoint').id);
  }
  return ids;
}

/** What each resource's lines are compared by: what the API assigns is left out, ids are mapped. */
const COMPARED: { [R in keyof ExportLines]: (line: Line, ids: IdMap) => unknown } = {
  devices: (line) => pick(line, ['name', 'kind', 'external_id', 'metadata', 'tags', 'status']),
  sessions: (line, ids) => ({
    ...pick(line, ['status', 'max_connections', 'presence_grace_seconds', 'max_frame_bytes', 'frames_per_second', 'history', 'end_reason']),
    allowed_device_ids: (line.allowed_device_ids as string[] | null)?.map((id) => ids.get(id) ?? id) ?? null,
    ttl_seconds: Math.round((Date.parse(line.expires_at as string) - Date.parse(line.created_at as string)) / 1000),
  }),
  messages: (line, ids) => ({
    ...pick(line, ['type', 'seq', 'sender', 'payload']),
    session_id: ids.get(line.session_id as string) ?? line.session_id,
  }),
  api_keys: (line) => pick(line, ['name', 'mode', 'scopes']),
  webhook_endpoints: (line) => pick(line, ['url', 'description', 'event_types', 'enabled']),
};

function pick(line: Line, keys: readonly string[]): Line {
  return Object.fromEntries(keys.map((key) => [key, line[key]]));
}

/**
 * The original's lines as the import's export should show them: each resource's objects in order,
 * compared by {@link COMPARED}, with the original's ids replaced by the imported ones.
 */
export function comparable(lines: ExportLines, ids: IdMap = new Map()): Record<keyof ExportLines, unknown[]> {
  return Object.fromEntries(
    (Object.keys(COMPARED) as Array<keyof ExportLines>).map((resource) => [
      resource,
      lines[resource].map((line) => COMPARED[resource](line, ids)),
    ]),
  ) as Record<keyof ExportLines, unknown[]>;
}
