/**
 * The whole product in one run, through the generated client only: register a device, open a
 * session, mint two connect tokens, connect two sockets, exchange messages, end the session.
 *
 *   npm start                 # in one terminal (prints the demo key)
 *   npm run example           # in another; SWITCHYARD_URL / SWITCHYARD_API_KEY override the defaults,
 *                             # and PORT (as `npm start` takes it) moves the default URL
 */
import { readFile } from 'node:fs/promises';
import { createSwitchyardClient, openSessionSocket, type ServerFrame, type SessionMessage } from '../generated/client.ts';

// The same default as `npm start`: 127.0.0.1, on $PORT when it is set.
const baseUrl = process.env.SWITCHYARD_URL ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`;
const apiKey =
  process.env.SWITCHYARD_API_KEY ??
  (JSON.parse(await readFile(new URL('../.wrangler/state/demo-key.json', import.meta.url), 'utf8')) as { api_key: string }).api_key;

const api = createSwitchyardClient({ baseUrl, apiKey });

function must<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.data === undefined) throw new Error(`${what} failed with ${result.response.status}: ${JSON.stringify(result.error)}`);
  return result.data;
}

const device = must(await api.POST('/v1/devices', { body: { name: 'Lobby kiosk', kind: 'iot', tags: ['lobby'] } }), 'registering a device');
console.log(`device   ${device.id} (${device.name})`);

const session = must(
  await api.POST('/v1/sessions', { body: { ttl_seconds: 600 }, headers: { 'Idempotency-Key': crypto.randomUUID() } }),
  'opening a session',
);
console.log(`session  ${session.id}, ends by ${session.expires_at}`);

const mint = async (participant: string) =>
  must(await api.POST('/v1/sessions/{id}/tokens', { params: { path: { id: session.id } }, body: { participant } }), 'minting a token')
    .token;
const [kioskToken, agentToken] = await Promise.all([mint(device.id), mint('client:support-agent')]);

async function join(name: string, token: string): Promise<{ socket: WebSocket; inbox: SessionMessage[] }> {
  const socket = openSessionSocket({ baseUrl, sessionId: session.id, token });
  const inbox: SessionMessage[] = [];
  socket.addEventListener('message', (event) => {
    const frame = JSON.parse(String(event.data)) as ServerFrame;
    if (frame.type === 'error') console.log(`  ${name.padEnd(6)} had a frame refused (${frame.code}): ${frame.detail}`);
    if (frame.type !== 'message' && frame.type !== 'presence') return;
    inbox.push(frame);
    console.log(`  ${name.padEnd(6)} got #${frame.seq} ${frame.type} from ${frame.sender}: ${JSON.stringify(frame.payload)}`);
  });
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`${name} could not connect`)), { once: true });
  });
  return { socket, inbox };
}

const kiosk = await join('kiosk', kioskToken);
const agent = await join('agent', agentToken);
agent.socket.send(JSON.stringify({ type: 'message', payload: { text: 'Hello from support' } }));
kiosk.socket.send(JSON.stringify({ type: 'message', payload: { text: 'Kiosk here, all good' } }));
must(
  await api.POST('/v1/sessions/{id}/messages', { params: { path: { id: session.id } }, body: { payload: { notice: 'closing soon' } } }),
  'publishing',
);

const deadline = Date.now() + 5_000;
while (kiosk.inbox.filter((message) => message.type === 'message').length < 3 && Date.now() < deadline)
  await new Promise((resolve) => setTimeout(resolve, 50));

const closed = new Promise<number>((resolve) => kiosk.socket.addEventListener('close', (event) => resolve(event.code), { once: true }));
const ended = must(await api.POST('/v1/sessions/{id}/end', { params: { path: { id: session.id } } }), 'ending the session');
console.log(`session  ${ended.status}; kiosk socket closed with ${await closed}`);
agent.socket.close();
await api.DELETE('/v1/devices/{id}', { params: { path: { id: device.id } } });
