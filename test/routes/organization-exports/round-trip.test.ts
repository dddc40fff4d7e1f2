/**
 * The round trip (issue 17 §2): an organisation's exported archive, re-imported into a fresh
 * organisation through the public API (scripts/lib/export-import.ts), exports to the same objects.
 */
import { describe, expect, it } from 'vitest';
import { comparable, importExport } from '../../../scripts/lib/export-import.ts';
import { downloadArchive, readArchive, runExport } from '../../helpers/exports.ts';
import { createTenant } from '../../helpers/tenants.ts';

describe('an exported archive re-imported into a fresh organisation', () => {
  it('reproduces the same devices, sessions and their messages, API keys and webhook endpoints', async () => {
    const source = await createTenant();
    const devices: string[] = [];
    for (const [index, status] of (['active', 'disabled', 'active'] as const).entries()) {
      const created = await source.api.POST('/v1/devices', {
        body: {
          name: `round trip ${index}`,
          kind: index === 0 ? 'iot' : 'browser',
          external_id: `rt-${index}`,
          tags: ['a', `t${index}`],
          metadata: { n: index, ok: true, s: 'é ✓' },
          status,
        },
      });
      devices.push(created.data?.id ?? '');
    }
    await source.api.POST('/v1/devices', { body: { name: 'no external id', kind: 'iot' } });
    const open =
      (await source.api.POST('/v1/sessions', { body: { allowed_device_ids: devices.slice(0, 2), ttl_seconds: 7200, max_connections: 7 } }))
        .data?.id ?? '';
    const ended = (await source.api.POST('/v1/sessions', { body: { presence_grace_seconds: 5, frames_per_second: 20 } })).data?.id ?? '';
    for (const payload of [{ text: 'hello' }, ['a', 1, null], 'plain', 42]) {
      await source.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: open } }, body: { payload } });
    }
    await source.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: ended } }, body: { payload: { last: true } } });
    await source.api.POST('/v1/sessions/{id}/end', { params: { path: { id: ended } } });
    await source.api.POST('/v1/api-keys', {
      body: { name: 'reader', scopes: ['devices:read', 'sessions:read'], expires_in_seconds: 86_400 },
    });
    await source.api.POST('/v1/webhook-endpoints', {
      body: { url: 'https://hooks.example.com/a', description: 'first', event_types: ['device.created'] },
    });
    await source.api.POST('/v1/webhook-endpoints', { body: { url: 'https://hooks.example.com/b', enabled: false } });

    const original = await readArchive(await downloadArchive(source, (await runExport(source)).id));
    expect(original.lines.messages).toHaveLength(5);

    const target = await createTenant();
    const ids = await importExport(target.api, original.lines);
    const imported = await readArchive(await downloadArchive(target, (await runExport(target)).id));

    // The fresh organisation's own key, which the import used, is the one object it had before.
    const importedLines = { ...imported.lines, api_keys: imported.lines.api_keys.filter((key) => key.id !== target.key.id) };
    expect(comparable(importedLines)).toEqual(comparable(original.lines, ids));
    expect(ids.size).toBe(
      original.lines.devices.length +
        original.lines.sessions.length +
        original.lines.api_keys.length +
        original.lines.webhook_endpoints.length,
    );
  });
});
