/**
 * Benchmark reference: WebSocket fan-out with nothing else. One Durable Object per room name
 * (`GET /rooms/<name>` with `Upgrade: websocket`) accepts sockets with the hibernation API and, for
 * every message, loops `send` to every other socket: no authentication, sequencing, validation or
 * storage. The harness drives it with the same client code as a Switchyard session.
 */
import { DurableObject } from 'cloudflare:workers';

export interface BareBroadcastEnv {
  ROOM: DurableObjectNamespace<BroadcastRoom>;
}

export class BroadcastRoom extends DurableObject {
  override fetch(): Response {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  override webSocketMessage(sender: WebSocket, message: string | ArrayBuffer): void {
    for (const socket of this.ctx.getWebSockets()) {
      if (socket !== sender) socket.send(message);
    }
  }

  override webSocketClose(socket: WebSocket, code: number, reason: string): void {
    socket.close(code === 1005 ? 1000 : code, reason);
  }
}

// biome-ignore lint/style/noDefaultExport: the Workers runtime needs the handler object as the default export.
export default {
  fetch(request, env): Promise<Response> | Response {
    const room = /^\/rooms\/([\w-]{1,64})$/.exec(new URL(request.url).pathname)?.[1];
    if (room === undefined || request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      return new Response('expected a WebSocket upgrade on /rooms/<name>', { status: 426 });
    }
    return env.ROOM.get(env.ROOM.idFromName(room)).fetch(request);
  },
} satisfies ExportedHandler<BareBroadcastEnv>;
