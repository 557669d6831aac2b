/**
 * A lean STOMP 1.2 client over `ws`, built on the product's own codec. It puts the same frames on
 * the wire as @stomp/stompjs (CONNECT with accept-version/heart-beat/login, SEND with
 * content-length as a text WebSocket message, SUBSCRIBE with id), at a fraction of its CPU cost,
 * so the bench measures the server and not the client.
 */
import WebSocket from 'ws';
import { encodeFrame, FrameDecoder, header, HEARTBEAT_EOL, type Frame, type HeaderList } from '../../protocol/index.js';

export interface LeanClientOptions {
  readonly url: string;
  readonly login: string;
  /** CONNECT `heart-beat` [cx, cy]; default [0, 0] (none). */
  readonly heartbeat?: readonly [number, number];
  readonly timeoutMs?: number;
  readonly localAddress?: string;
}

let receiptSeq = 0;

export class LeanStompClient {
  /** Called for every MESSAGE frame. */
  onMessage: (frame: Frame) => void = () => {};
  /** Called for a RECEIPT nobody waits for with `withReceipt` (a sender's own `receipt` headers). */
  onReceipt: (id: string) => void = () => {};
  /** ERROR frames and unexpected closes, as text: a bench run fails when it is not empty. */
  readonly problems: string[] = [];
  private readonly decoder = new FrameDecoder({ maxFrameBytes: 16 * 1024 * 1024 });
  private readonly receipts = new Map<string, (receipt: Frame) => void>();
  private connected: ((f: Frame) => void) | undefined;
  private closing = false;
  readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        if (!this.closing) this.problems.push(`socket closed ${code} ${reason.toString()}`);
        resolve();
      });
    });
    ws.on('error', (err) => this.problems.push(`socket error ${err.message}`));
    ws.on('message', (data: Buffer) => {
      let events;
      try {
        events = this.decoder.push(data);
      } catch (err) {
        this.problems.push(`undecodable frame: ${String(err)}`);
        ws.terminate();
        return;
      }
      for (const e of events) {
        if (e.kind !== 'frame') continue;
        const f = e.frame;
        if (f.command === 'MESSAGE') this.onMessage(f);
        else if (f.command === 'RECEIPT') {
          const id = header(f, 'receipt-id') ?? '';
          const waiter = this.receipts.get(id);
          if (waiter) {
            waiter(f);
            this.receipts.delete(id);
          } else this.onReceipt(id);
        } else if (f.command === 'CONNECTED') this.connected?.(f);
        else if (f.command === 'ERROR')
          this.problems.push(`ERROR ${header(f, 'message') ?? ''} ${f.body.toString('utf8', 0, 200)}`);
      }
    });
  }

  /** Opens the WebSocket (subprotocol v12.stomp) and completes CONNECT → CONNECTED. */
  static async connect(opts: LeanClientOptions): Promise<LeanStompClient> {
    const ws = new WebSocket(opts.url, ['v12.stomp', 'v11.stomp', 'v10.stomp'], {
      perMessageDeflate: false,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    const client = new LeanStompClient(ws);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`CONNECT to ${opts.url} timed out`)), timeoutMs);
        ws.once('error', reject);
        ws.once('close', (code) => reject(new Error(`closed ${code} before CONNECTED: ${client.problems.join('; ')}`)));
        client.connected = () => resolve();
        ws.once('open', () => {
          const [cx, cy] = opts.heartbeat ?? [0, 0];
          client.sendFrame({
            command: 'CONNECT',
            headers: [
              ['accept-version', '1.2,1.1,1.0'],
              ['heart-beat', `${cx},${cy}`],
              ['host', '127.0.0.1'],
              ['login', opts.login],
              ['passcode', ''],
            ],
            body: Buffer.alloc(0),
          });
        });
      });
    } catch (err) {
      ws.terminate();
      throw err;
    } finally {
      clearTimeout(timer);
      ws.removeAllListeners('open');
      client.connected = undefined;
    }
    return client;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  sendFrame(frame: Frame): void {
    this.ws.send(encodeFrame(frame, '1.2'), { binary: false });
  }

  /** SEND as STOMP.js does for a string body: content-type text/plain, content-length. */
  send(destination: string, body: Buffer, extra: HeaderList = []): void {
    this.sendFrame({
      command: 'SEND',
      headers: [
        ['destination', destination],
        ['content-type', 'text/plain'],
        ...extra,
        ['content-length', String(body.length)],
      ],
      body,
    });
  }

  /** SUBSCRIBE with a receipt (and `extra` headers); resolves with the RECEIPT once the server confirmed it. */
  subscribe(destination: string, id: string, timeoutMs = 10_000, extra: HeaderList = []): Promise<Frame> {
    return this.withReceipt(
      (receipt) =>
        this.sendFrame({
          command: 'SUBSCRIBE',
          headers: [['id', id], ['destination', destination], ['ack', 'auto'], ...extra, ['receipt', receipt]],
          body: Buffer.alloc(0),
        }),
      timeoutMs,
    );
  }

  /** Sends one frame with a fresh `receipt` header and resolves with its RECEIPT. */
  async withReceipt(send: (receipt: string) => void, timeoutMs = 10_000): Promise<Frame> {
    const id = `r-${++receiptSeq}`;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<Frame>((resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no RECEIPT ${id} within ${timeoutMs} ms: ${this.problems.join('; ')}`)),
          timeoutMs,
        );
        this.receipts.set(id, resolve);
        send(id);
      });
    } finally {
      clearTimeout(timer);
      this.receipts.delete(id);
    }
  }

  heartbeat(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(HEARTBEAT_EOL, { binary: false });
  }

  /** DISCONNECT with a receipt (bounded), then close. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.closing) return this.closed;
    this.closing = true;
    if (this.ws.readyState === WebSocket.OPEN) {
      try {
        await this.withReceipt(
          (r) => this.sendFrame({ command: 'DISCONNECT', headers: [['receipt', r]], body: Buffer.alloc(0) }),
          timeoutMs,
        );
      } catch {
        // closing anyway
      }
      this.ws.close(1000);
    } else if (this.ws.readyState !== WebSocket.CLOSED) {
      this.ws.terminate();
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise<void>(
        (r) =>
          (timer = setTimeout(() => {
            this.ws.terminate();
            r();
          }, timeoutMs)),
      ),
    ]);
    clearTimeout(timer);
  }
}

/** Runs `make` for each index with at most `concurrency` in flight; results in index order. */
export async function inBatches<T>(count: number, concurrency: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await make(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return out;
}
