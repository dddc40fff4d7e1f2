/**
 * The typed client's bookmark keeper (generated/client.ts, from scripts/client-template.ts): each
 * client remembers the greatest `Switchyard-Bookmark` its responses carried and sends it on its next
 * requests. What the Worker received is read by a fetch wrapper between the client and the Worker,
 * so these tests assert the header actually sent, not what the client meant to send.
 */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createSwitchyardClient, SwitchyardApiError, type SwitchyardClientOptions, unwrap } from '../../generated/client.ts';
import { BOOKMARK_HEADER } from '../../src/schemas/responses.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { BASE_URL } from '../helpers/worker.ts';

interface Exchange {
  method: string;
  path: string;
  /** The bookmark the request carried, as the Worker received it. */
  sent: string | null;
  /** The bookmark its response carried. */
  received: string | null;
}

/** Between the client and the Worker: records each exchange; `answer` may reply to a request itself. */
function recordingNetwork(answer: (request: Request, index: number) => Response | undefined = () => undefined) {
  const exchanges: Exchange[] = [];
  const fetch = async (request: Request) => {
    const index = exchanges.length;
    const exchange: Exchange = {
      method: request.method,
      path: new URL(request.url).pathname,
      sent: request.headers.get(BOOKMARK_HEADER),
      received: null,
    };
    exchanges.push(exchange);
    const response = answer(request, index) ?? (await exports.default.fetch(request));
    exchange.received = response.headers.get(BOOKMARK_HEADER);
    return response;
  };
  return { fetch, exchanges };
}

function client(tenant: Tenant, fetch: (request: Request) => Promise<Response>, options: Partial<SwitchyardClientOptions> = {}) {
  return createSwitchyardClient({ baseUrl: BASE_URL, apiKey: tenant.key.secret, fetch, retry: false, ...options });
}

describe('the client', () => {
  it('sends no bookmark before it has one, then the one the last response carried', async () => {
    const tenant = await createTenant();
    const net = recordingNetwork();
    const api = client(tenant, net.fetch);

    const device = unwrap(await api.POST('/v1/devices', { body: { name: 'kept', kind: 'iot' } }));
    unwrap(await api.GET('/v1/devices/{id}', { params: { path: { id: device.id } } }));
    unwrap(await api.PATCH('/v1/devices/{id}', { params: { path: { id: device.id } }, body: { name: 'renamed' } }));
    const read = unwrap(await api.GET('/v1/devices/{id}', { params: { path: { id: device.id } } }));

    expect(read.name).toBe('renamed');
    const [create, firstRead, update, secondRead] = net.exchanges;
    expect(create?.sent).toBeNull();
    expect(create?.received).not.toBeNull();
    expect(firstRead?.sent).toBe(create?.received);
    expect(update?.sent).toBe(firstRead?.received);
    expect(secondRead?.sent).toBe(update?.received);
  });

  it('keeps the greatest bookmark: an older answer arriving last does not take it back before a change', async () => {
    const tenant = await createTenant();
    // The bookmark sorts before any the Worker hands out (D1 bookmarks sort oldest first).
    const older = `00000000-00000000-00000000-${'0'.repeat(32)}.${'A'.repeat(43)}`;
    const net = recordingNetwork((_request, index) =>
      index === 1 ? Response.json({ data: [], next_cursor: null }, { headers: { [BOOKMARK_HEADER]: older } }) : undefined,
    );
    const api = client(tenant, net.fetch);

    unwrap(await api.POST('/v1/devices', { body: { name: 'newest', kind: 'iot' } }));
    unwrap(await api.GET('/v1/devices'));
    unwrap(await api.GET('/v1/devices'));

    expect(net.exchanges[2]?.sent).toBe(net.exchanges[0]?.received);
  });

  it('forgets a bookmark the API refuses, so the next call goes through', async () => {
    const tenant = await createTenant();
    // A bookmark as a client of another deployment could have kept: well formed, not signed here.
    const foreign = `ffffffff-ffffffff-ffffffff-${'f'.repeat(32)}.${'A'.repeat(43)}`;
    const net = recordingNetwork();
    const api = client(tenant, net.fetch);
    const planted = recordingNetwork((_request, index) =>
      index === 0 ? Response.json({ data: [], next_cursor: null }, { headers: { [BOOKMARK_HEADER]: foreign } }) : undefined,
    );
    const misled = client(tenant, planted.fetch);
    unwrap(await misled.GET('/v1/devices'));

    const refused = await misled.GET('/v1/devices');
    const after = await misled.GET('/v1/devices');

    expect(refused.response.status).toBe(400);
    expect(() => unwrap(refused)).toThrow(SwitchyardApiError);
    expect(refused.error?.code).toBe('invalid_bookmark');
    expect(planted.exchanges[1]?.sent).toBe(foreign);
    expect(after.response.status).toBe(200);
    expect(planted.exchanges[2]?.sent).toBeNull();
    // Another client of the same key never saw any of it.
    unwrap(await api.GET('/v1/devices'));
    expect(net.exchanges[0]?.sent).toBeNull();
  });

  it('keeps a bookmark per client, keeps one the caller sets, and sends none with bookmarks: false', async () => {
    const tenant = await createTenant();
    const net = recordingNetwork();
    const first = client(tenant, net.fetch);
    const second = client(tenant, net.fetch);
    const off = client(tenant, net.fetch, { bookmarks: false });

    const created = await first.POST('/v1/devices', { body: { name: 'per client', kind: 'iot' } });
    const ownToken = created.response.headers.get(BOOKMARK_HEADER) ?? '';
    unwrap(await second.GET('/v1/devices'));
    unwrap(await first.GET('/v1/devices'));
    unwrap(await first.GET('/v1/devices', { params: { header: { [BOOKMARK_HEADER]: ownToken } } }));
    unwrap(await off.GET('/v1/devices'));
    unwrap(await off.GET('/v1/devices'));

    const sent = net.exchanges.map((exchange) => exchange.sent);
    expect(sent[1]).toBeNull();
    expect(sent[2]).toBe(ownToken);
    expect(sent[3]).toBe(ownToken);
    expect(sent.slice(4)).toEqual([null, null]);
  });

  it('is what the tests drive the Worker with: the helpers’ clients carry the bookmark too', async () => {
    const tenant = await createTenant();
    const sent: Array<string | null> = [];
    // Registered after the client's own middleware, so it sees the request as it leaves.
    const spy = {
      onRequest({ request }: { request: Request }) {
        sent.push(request.headers.get(BOOKMARK_HEADER));
        return request;
      },
    };
    tenant.api.use(spy);
    try {
      const created = await tenant.api.POST('/v1/devices', { body: { name: 'helper', kind: 'iot' } });
      await tenant.api.GET('/v1/devices');
      expect(sent).toEqual([null, created.response.headers.get(BOOKMARK_HEADER)]);
    } finally {
      tenant.api.eject(spy);
    }
  });
});
