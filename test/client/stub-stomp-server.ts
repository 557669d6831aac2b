import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeFrame, FrameDecoder, header, subprotocolVersion, type Frame } from '../../protocol/index.js';
import type { StreamPosition } from '../../server/history/history.js';
import { MemoryHistory } from '../../server/history/memory-history.js';
import { HistoryStreams } from '../../server/history/streams.js';
import type { RelayMessage } from '../../server/relay/relay-message.js';

export interface StubOptions {
  /** HISTORY_DESTINATIONS. */
  readonly historyDestinations: readonly string[];
  /** HISTORY_SIZE. */
  readonly historySize: number;
}

interface StubSubscription {
  readonly destination: string;
  readonly ack: string;
}

interface Connection {
  readonly ws: WebSocket;
  readonly subs: Map<string, StubSubscription>;
}

/**
 * The smallest STOMP 1.2 server that speaks the history extension as SPEC §11 words it, for the
 * client helper's tests until the node has it: broadcast destinations only, on the real
 * MemoryHistory and HistoryStreams. Every operation runs one after another (a promise chain), so
 * a resume's replay and the live messages never interleave — the order the node's offset gate
 * will give. Not a model of the node's code: it has no gate, no cluster, no inbox.
 */
export class StubStompServer {
  /** Client frames received (all connections), for tests that check what the helper sent. */
  readonly received: Frame[] = [];
  readonly #wss: WebSocketServer;
  readonly #streams: HistoryStreams;
  readonly #options: StubOptions;
  readonly #connections = new Set<Connection>();
  #history: MemoryHistory;
  #chain: Promise<unknown> = Promise.resolve();
  #ids = 0;

  private constructor(wss: WebSocketServer, options: StubOptions) {
    this.#wss = wss;
    this.#options = options;
    this.#streams = new HistoryStreams(options.historyDestinations);
    this.#history = this.#newHistory();
    wss.on('connection', (ws) => this.#accept(ws));
  }

  static async start(options: StubOptions): Promise<StubStompServer> {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      handleProtocols: (protocols) => subprotocolVersion(protocols),
    });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    return new StubStompServer(wss, options);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#wss.address() as AddressInfo).port}/ws`;
  }

  /** Accepts a message for `destination` (history, then every exact subscriber). Resolves once written. */
  publish(destination: string, body: string): Promise<void> {
    return this.#serial(async () => {
      const msg: RelayMessage = {
        id: `stub-${++this.#ids}`,
        target: { kind: 'broadcast' },
        destination,
        headers: [['content-type', 'text/plain']],
        body: Buffer.from(body),
        origin: 'stub',
        sentAt: Date.now(),
      };
      const stream = this.#streams.ofMessage(msg);
      const position = stream === undefined ? undefined : await this.#history.append(stream, msg);
      for (const conn of this.#connections) {
        for (const [id, sub] of conn.subs)
          if (sub.destination === destination) this.#message(conn, id, sub, msg, position);
      }
    });
  }

  /** Writes the kept message at `offset` of `destination` again to every subscriber: a duplicate copy, or a redelivery. */
  duplicate(destination: string, offset: number, redelivered = false): Promise<void> {
    return this.#serial(async () => {
      const stream = this.#streams.ofSubscription(destination, '');
      if (stream === undefined) throw new Error(`${destination} keeps no history`);
      const { epoch } = await this.#history.position(stream);
      const [entry] = await this.#history.range(stream, epoch, offset, offset);
      if (!entry) throw new Error(`offset ${offset} is not kept`);
      for (const conn of this.#connections) {
        for (const [id, sub] of conn.subs) {
          if (sub.destination === destination)
            this.#message(conn, id, sub, { ...entry.message, redelivered }, { epoch, offset });
        }
      }
    });
  }

  /** Loses every stream's history, as a restart of an embedded node does: new epochs from now on. */
  forgetHistory(): Promise<void> {
    return this.#serial(async () => {
      await this.#history.close();
      this.#history = this.#newHistory();
    });
  }

  async close(): Promise<void> {
    for (const conn of this.#connections) conn.ws.terminate();
    await this.#history.close();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #newHistory(): MemoryHistory {
    return new MemoryHistory({ limits: { size: this.#options.historySize, ttlMs: 600_000 } });
  }

  #serial(op: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(op);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  #accept(ws: WebSocket): void {
    const conn: Connection = { ws, subs: new Map() };
    this.#connections.add(conn);
    const decoder = new FrameDecoder();
    ws.on('close', () => this.#connections.delete(conn));
    ws.on('error', () => ws.terminate());
    ws.on('message', (data: Buffer) => {
      for (const event of decoder.push(Buffer.from(data))) {
        if (event.kind !== 'frame') continue;
        this.received.push(event.frame);
        this.#handle(conn, event.frame).catch(() => ws.terminate());
      }
    });
  }

  async #handle(conn: Connection, frame: Frame): Promise<void> {
    switch (frame.command) {
      case 'CONNECT':
      case 'STOMP':
        this.#write(conn, 'CONNECTED', [
          ['version', '1.2'],
          ['heart-beat', '0,0'],
        ]);
        return;
      case 'SUBSCRIBE':
        return this.#serial(() => this.#subscribe(conn, frame));
      case 'UNSUBSCRIBE':
        conn.subs.delete(header(frame, 'id') ?? '');
        break;
      case 'SEND':
        await this.publish(header(frame, 'destination') ?? '', frame.body.toString());
        break;
      default:
        break;
    }
    const receipt = header(frame, 'receipt');
    if (receipt !== undefined) this.#write(conn, 'RECEIPT', [['receipt-id', receipt]]);
  }

  async #subscribe(conn: Connection, frame: Frame): Promise<void> {
    const id = header(frame, 'id') ?? '';
    const destination = header(frame, 'destination') ?? '';
    const sub: StubSubscription = { destination, ack: header(frame, 'ack') ?? 'auto' };
    const receiptHeaders: [string, string][] = [];
    const stream = this.#streams.ofSubscription(destination, '');
    if (stream !== undefined) {
      const epoch = header(frame, 'x-resume-epoch');
      const offsetText = header(frame, 'x-resume-offset');
      if (epoch !== undefined && offsetText !== undefined && /^\d+$/.test(offsetText)) {
        const recovery = await this.#history.since(stream, epoch, Number(offsetText));
        if (recovery.recovered) {
          for (const e of recovery.messages)
            this.#message(conn, id, sub, e.message, { epoch: recovery.position.epoch, offset: e.offset });
        }
        receiptHeaders.push(...positionHeaders(recovery.position), ['x-recovered', String(recovery.recovered)]);
      } else {
        receiptHeaders.push(...positionHeaders(await this.#history.position(stream)));
      }
    }
    conn.subs.set(id, sub);
    const receipt = header(frame, 'receipt');
    if (receipt !== undefined) this.#write(conn, 'RECEIPT', [['receipt-id', receipt], ...receiptHeaders]);
  }

  #message(
    conn: Connection,
    id: string,
    sub: StubSubscription,
    msg: RelayMessage,
    position: StreamPosition | undefined,
  ): void {
    const headers: [string, string][] = [
      ['destination', msg.destination],
      ['subscription', id],
      ['message-id', msg.id],
    ];
    if (sub.ack !== 'auto') headers.push(['ack', `${msg.id}@${++this.#ids}`]);
    if (msg.redelivered) headers.push(['redelivered', 'true']);
    if (position !== undefined) headers.push(...positionHeaders(position));
    headers.push(...msg.headers.map(([n, v]): [string, string] => [n, v]), ['content-length', String(msg.body.length)]);
    conn.ws.send(encodeFrame({ command: 'MESSAGE', headers, body: msg.body }, '1.2'));
  }

  #write(conn: Connection, command: 'CONNECTED' | 'RECEIPT', headers: [string, string][]): void {
    conn.ws.send(encodeFrame({ command, headers, body: Buffer.alloc(0) }, '1.2'));
  }
}

function positionHeaders(p: StreamPosition): [string, string][] {
  return [
    ['x-epoch', p.epoch],
    ['x-offset', String(p.offset)],
  ];
}
