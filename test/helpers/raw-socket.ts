import WebSocket from 'ws';
import { FrameDecoder, header, type Frame } from '../../protocol/index.js';
import { waitFor } from './wait.js';

/** A bare WebSocket speaking STOMP by hand: for split frames, odd bytes and protocol errors. */
export interface RawSocket {
  readonly ws: WebSocket;
  readonly frames: Frame[];
  /** WebSocket messages received, raw. */
  readonly raw: Buffer[];
  readonly closed: Promise<{ code: number; reason: string }>;
  send(data: string | Buffer): void;
  /** Waits for the earliest frame with `command` that no earlier call returned. */
  next(command: string, timeoutMs?: number): Promise<Frame>;
  close(): void;
}

export async function openRaw(url: string, protocols: string[] = ['v12.stomp']): Promise<RawSocket> {
  const ws = new WebSocket(url, protocols);
  const frames: Frame[] = [];
  const raw: Buffer[] = [];
  const decoder = new FrameDecoder({ maxFrameBytes: 16 * 1024 * 1024 });
  decoder.setVersion('1.2');
  ws.on('message', (data: Buffer) => {
    raw.push(data);
    for (const e of decoder.push(data)) if (e.kind === 'frame') frames.push(e.frame);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const consumed = new Set<number>();
  return {
    ws,
    frames,
    raw,
    closed,
    send: (data) => ws.send(data),
    next: async (command, timeoutMs = 3000) => {
      const found = await waitFor(
        () => {
          for (let i = 0; i < frames.length; i++) {
            if (!consumed.has(i) && frames[i]!.command === command) {
              consumed.add(i);
              return frames[i];
            }
          }
          return undefined;
        },
        `${command} frame`,
        timeoutMs,
      );
      return found;
    },
    close: () => ws.close(),
  };
}

export async function connectRaw(url: string, login = 'raw', version = '1.2'): Promise<RawSocket> {
  const s = await openRaw(url);
  s.send(`CONNECT\naccept-version:${version}\nhost:localhost\nlogin:${login}\n\n\0`);
  const connected = await s.next('CONNECTED');
  if (header(connected, 'version') !== version) throw new Error('unexpected version');
  return s;
}
