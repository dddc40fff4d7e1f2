/**
 * A receive-only WebSocket client that costs almost nothing per frame: an RFC 6455 handshake over
 * a plain TCP socket, then frame headers are walked and each text frame is classified by its first
 * bytes, without decoding or dispatching events. The fan-out scenario uses it for subscribers
 * because Node's global WebSocket (undici) costs ~40 µs of this process's CPU per frame here, which
 * capped both Switchyard and the bare reference at the same ~22,000–27,000 deliveries/s: the
 * figure measured the client, not the Worker.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface Endpoint {
  url: URL;
  protocols: string[];
}

/** A client frame (clients must mask): pong and close, and text for {@link FrameCounter.sendText}. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const isControl = (opcode & 0x08) !== 0;
  if (isControl && payload.length > 125) throw new Error('control frames carry at most 125 bytes');
  if (payload.length > 0xffff) throw new Error('frames this client sends carry at most 65,535 bytes');
  // RFC 6455 §5.2: a 7-bit length, or 126 and a 16-bit length.
  const lengthBytes = payload.length < 126 ? 0 : 2;
  const maskAt = 2 + lengthBytes;
  const mask = randomBytes(4);
  const frame = Buffer.alloc(maskAt + 4 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | (lengthBytes === 0 ? payload.length : 126);
  if (lengthBytes === 2) frame.writeUInt16BE(payload.length, 2);
  mask.copy(frame, maskAt);
  for (let index = 0; index < payload.length; index += 1) {
    frame[maskAt + 4 + index] = (payload[index] as number) ^ (mask[index % 4] as number);
  }
  return frame;
}

export class FrameCounter {
  /** Called for every complete text message, with whether it starts with `prefix`. */
  onMessage: (matches: boolean) => void = () => undefined;
  /** Called once when the connection ends, with the close code (1006 when none was received). */
  onClose: (code: number, reason: string) => void = () => undefined;
  readonly ready: Promise<void>;

  private readonly socket: Socket;
  private readonly prefix: Buffer;
  private pending: Buffer = Buffer.alloc(0);
  private upgraded = false;
  private fragmentMatches: boolean | undefined;
  private closeCode = 1006;
  private closeReason = '';
  private closed = false;

  /** `prefix`: the bytes a counted text message starts with, e.g. `{"type":"message"`. */
  constructor(endpoint: Endpoint, prefix: string) {
    this.prefix = Buffer.from(prefix);
    const { url } = endpoint;
    const key = randomBytes(16).toString('base64');
    const expectedAccept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    this.socket = connect(Number(url.port || 80), url.hostname);
    this.socket.setNoDelay(true);
    this.ready = new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        reject(error);
        this.socket.destroy();
      };
      this.socket.once('error', fail);
      this.socket.once('connect', () => {
        const lines = [
          `GET ${url.pathname}${url.search} HTTP/1.1`,
          `Host: ${url.host}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${key}`,
          'Sec-WebSocket-Version: 13',
          ...(endpoint.protocols.length > 0 ? [`Sec-WebSocket-Protocol: ${endpoint.protocols.join(', ')}`] : []),
        ];
        this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
      this.socket.on('data', (chunk: Buffer) => {
        this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
        if (!this.upgraded) {
          const end = this.pending.indexOf('\r\n\r\n');
          if (end === -1) return;
          const head = this.pending.subarray(0, end).toString('latin1');
          this.pending = this.pending.subarray(end + 4);
          const accept = /^sec-websocket-accept:\s*(\S+)/im.exec(head)?.[1];
          if (!/^HTTP\/1\.1 101 /.test(head) || accept !== expectedAccept) {
            fail(new Error(`the upgrade was refused: ${head.split('\r\n')[0]}`));
            return;
          }
          this.upgraded = true;
          this.socket.off('error', fail);
          this.socket.on('error', () => this.socket.destroy());
          resolve();
        }
        this.readFrames();
      });
      this.socket.once('close', () => {
        this.closed = true;
        if (!this.upgraded) reject(new Error('the connection closed during the upgrade'));
        else this.onClose(this.closeCode, this.closeReason);
      });
    });
  }

  private readFrames(): void {
    let buffer = this.pending;
    let offset = 0;
    while (buffer.length - offset >= 2) {
      const first = buffer[offset] as number;
      const second = buffer[offset + 1] as number;
      let length = second & 0x7f;
      let header = 2;
      if (length === 126) {
        if (buffer.length - offset < 4) break;
        length = buffer.readUInt16BE(offset + 2);
        header = 4;
      } else if (length === 127) {
        if (buffer.length - offset < 10) break;
        length = Number(buffer.readBigUInt64BE(offset + 2));
        header = 10;
      }
      if (second & 0x80) header += 4; // A masked server frame is a protocol error; skip the key rather than choke.
      if (buffer.length - offset < header + length) break;
      const payloadStart = offset + header;
      const opcode = first & 0x0f;
      const fin = (first & 0x80) !== 0;
      if (opcode === OPCODE.text || opcode === OPCODE.binary || opcode === OPCODE.continuation) {
        if (opcode !== OPCODE.continuation) {
          this.fragmentMatches =
            length >= this.prefix.length &&
            buffer.compare(this.prefix, 0, this.prefix.length, payloadStart, payloadStart + this.prefix.length) === 0;
        }
        if (fin) {
          this.onMessage(opcode !== OPCODE.binary && this.fragmentMatches === true);
          this.fragmentMatches = undefined;
        }
      } else if (opcode === OPCODE.ping) {
        this.socket.write(maskedFrame(OPCODE.pong, buffer.subarray(payloadStart, payloadStart + length)));
      } else if (opcode === OPCODE.close) {
        this.closeCode = length >= 2 ? buffer.readUInt16BE(payloadStart) : 1005;
        this.closeReason = length > 2 ? buffer.toString('utf8', payloadStart + 2, payloadStart + length) : '';
        this.close(this.closeCode === 1005 ? 1000 : this.closeCode);
      }
      offset = payloadStart + length;
    }
    buffer = buffer.subarray(offset);
    this.pending = buffer.length === 0 ? Buffer.alloc(0) : buffer;
  }

  /**
   * Sends one text message (at most 65,535 bytes). The scale curves publish with it: Node's
   * WebSocket would cost a hundred publishers more client CPU than the room spends per frame.
   */
  sendText(text: string): void {
    if (this.closed || this.socket.destroyed) throw new Error('the socket is closed');
    this.socket.write(maskedFrame(OPCODE.text, Buffer.from(text)));
  }

  /** Sends a close frame and ends the connection. */
  close(code = 1000): void {
    if (this.closed || this.socket.destroyed) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.socket.end(maskedFrame(OPCODE.close, payload));
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}
