import { createHash } from 'node:crypto';
import net from 'node:net';
import { FrameDecoder, type Frame } from '../../protocol/index.js';
import { deferred, waitFor } from './wait.js';

/** RFC 6455 §1.3's sample key; any fixed key works, the server only hashes it. */
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** One client-to-server WebSocket frame, masked unless told otherwise (RFC 6455 §5.2). */
export function encodeWsFrame(
  payload: Buffer,
  opts: {
    opcode?: number;
    fin?: boolean;
    mask?: boolean;
    rsv?: number;
    maskKey?: Buffer;
    declaredLength?: number;
  } = {},
): Buffer {
  const { opcode = OPCODE.text, fin = true, mask = true, rsv = 0 } = opts;
  const length = opts.declaredLength ?? payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const m = mask ? 0x80 : 0;
  if (length < 126) head.push(m | length);
  else if (length < 65536) head.push(m | 126, length >> 8, length & 0xff);
  else {
    head.push(m | 127);
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    head.push(...big);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = opts.maskKey ?? Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i % 4]!;
  return Buffer.concat([Buffer.from(head), key, body]);
}

/**
 * A WebSocket client written by hand over a plain TCP socket: the test controls every byte sent
 * and, unlike `ws`, can stop reading (`pause()`) so the kernel buffers fill as with a stalled phone.
 */
export interface TcpWebSocket {
  readonly socket: net.Socket;
  /** STOMP frames decoded from the server's text and binary messages so far. */
  readonly frames: Frame[];
  /** Server close frame, if one arrived: its code. */
  readonly closeCode: number | undefined;
  /** Bytes received after the handshake. */
  readonly bytesIn: number;
  /** Resolves when the TCP connection ends (FIN, RST or destroy). */
  readonly ended: Promise<void>;
  /** One STOMP frame as one masked text message. */
  sendStomp(text: string): void;
  write(bytes: Buffer): void;
  next(command: string, timeoutMs?: number): Promise<Frame>;
  destroy(): void;
}

export async function openTcpWebSocket(port: number, path = '/ws', protocol = 'v12.stomp'): Promise<TcpWebSocket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const ended = deferred<void>();
  socket.on('close', () => ended.resolve());
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );

  const frames: Frame[] = [];
  const decoder = new FrameDecoder({ maxFrameBytes: 16 * 1024 * 1024 });
  let pending: Buffer = Buffer.alloc(0);
  let handshaken = false;
  let closeCode: number | undefined;
  let bytesIn = 0;
  const handshake = deferred<void>();

  const onData = (chunk: Buffer): void => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (handshaken) bytesIn += chunk.length;
    else {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = pending.subarray(0, end).toString('latin1');
      pending = pending.subarray(end + 4);
      if (!head.startsWith('HTTP/1.1 101') || !head.includes(`Sec-WebSocket-Accept: ${ACCEPT}`)) {
        handshake.reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
        return;
      }
      handshaken = true;
      bytesIn += pending.length;
      handshake.resolve();
    }
    // Server frames are unmasked; payload lengths fit in a JS number here.
    for (;;) {
      if (pending.length < 2) return;
      const opcode = pending[0]! & 0x0f;
      let length = pending[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (pending.length < 4) return;
        length = pending.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (pending.length < 10) return;
        length = Number(pending.readBigUInt64BE(2));
        offset = 10;
      }
      if (pending.length < offset + length) return;
      const payload = pending.subarray(offset, offset + length);
      pending = pending.subarray(offset + length);
      if (opcode === OPCODE.close) closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      else if (opcode === OPCODE.text || opcode === OPCODE.binary || opcode === OPCODE.continuation) {
        for (const e of decoder.push(Buffer.from(payload))) if (e.kind === 'frame') frames.push(e.frame);
      }
    }
  };
  socket.on('data', onData);
  await handshake.promise;

  const consumed = new Set<Frame>();
  return {
    socket,
    frames,
    get closeCode() {
      return closeCode;
    },
    get bytesIn() {
      return bytesIn;
    },
    ended: ended.promise,
    sendStomp: (text) => socket.write(encodeWsFrame(Buffer.from(text))),
    write: (bytes) => socket.write(bytes),
    next: (command, timeoutMs = 3000) =>
      waitFor(
        () => {
          const f = frames.find((x) => x.command === command && !consumed.has(x));
          if (f) consumed.add(f);
          return f;
        },
        `${command} frame`,
        timeoutMs,
      ),
    destroy: () => socket.destroy(),
  };
}
