/** The systems under test as Pipes: product STOMP clients, floor WebSockets, HTTP pushes. */
import http from 'node:http';
import WebSocket from 'ws';
import type { Frame } from '../../protocol/index.js';
import type { LeanStompClient } from './lean-stomp-client.js';
import { readStamp, stampedBody, stampedText, type Pipe, type Recorder } from './load.js';

const MAX_KEPT_PROBLEMS = 20;
const CONTENT_KEY = Buffer.from('"content":"');

/** A Pipe whose body size can change between runs. */
export interface SizedPipe extends Pipe {
  size: number;
}

class Problems {
  readonly list: string[] = [];
  count = 0;
  add(p: string): void {
    this.count++;
    if (this.list.length < MAX_KEPT_PROBLEMS) this.list.push(p);
  }
}

/** Where a STOMP MESSAGE's stamp is: at the body's start, or in the seed chat's JSON `content`. */
export type BodyForm = 'plain' | 'chat';

/** Makes `client` report every MESSAGE's stamp to `pipe.recorder`. */
export function receiveStomp(client: LeanStompClient, pipe: Pipe, form: BodyForm = 'plain'): void {
  const stamp = { seq: 0, ts: 0 };
  client.onMessage = (f: Frame) => {
    const offset = form === 'plain' ? 0 : f.body.indexOf(CONTENT_KEY) + CONTENT_KEY.length;
    if (offset >= 0 && readStamp(f.body, offset, stamp)) pipe.recorder?.record(stamp.seq, stamp.ts);
  };
}

/** Makes a raw WebSocket report every message's stamp to `pipe.recorder`. */
export function receiveRaw(ws: WebSocket, pipe: Pipe): void {
  const stamp = { seq: 0, ts: 0 };
  ws.on('message', (data: Buffer) => {
    if (readStamp(data, 0, stamp)) pipe.recorder?.record(stamp.seq, stamp.ts);
  });
}

export function openRaw(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`open ${url} timed out`)), 10_000);
    ws.once('open', () => {
      clearTimeout(timer);
      ws.on('error', () => undefined);
      resolve(ws);
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Product: a STOMP client SENDs to `destination`; receivers are wired with `receiveStomp`. */
export class StompSendPipe implements SizedPipe {
  recorder: Recorder | undefined;
  size = 100;
  constructor(
    readonly sender: LeanStompClient,
    readonly destination: string,
    private readonly receivers: readonly LeanStompClient[],
  ) {}

  send(seq: number): void {
    this.sender.send(this.destination, stampedBody(seq, this.size));
  }

  problems(): string[] {
    return [this.sender, ...this.receivers].flatMap((c) => c.problems);
  }
}

/** Floor: a raw WebSocket sends the body; receivers are wired with `receiveRaw`. */
export class RawSendPipe implements SizedPipe {
  recorder: Recorder | undefined;
  size = 100;
  private readonly bad = new Problems();
  constructor(
    readonly sender: WebSocket,
    readonly receivers: readonly WebSocket[],
  ) {
    for (const ws of [sender, ...receivers]) ws.on('close', (code) => this.bad.add(`floor socket closed ${code}`));
  }

  send(seq: number): void {
    this.sender.send(stampedBody(seq, this.size), { binary: false });
  }

  problems(): string[] {
    return this.bad.list;
  }
}

/** POSTs `{"destination","body"}` (the product's /api/users/{id}/messages, or the floor's /push/{id}). */
export class HttpPushPipe implements SizedPipe {
  recorder: Recorder | undefined;
  size = 100;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly bad = new Problems();
  constructor(
    private readonly port: number,
    private readonly path: string,
    private readonly destination: string,
    private readonly receiverProblems: () => string[],
  ) {}

  send(seq: number): void {
    const body = JSON.stringify({ destination: this.destination, body: stampedText(seq, this.size) });
    const req = http.request(
      {
        host: '127.0.0.1',
        port: this.port,
        path: this.path,
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        if (res.statusCode !== 202) this.bad.add(`HTTP ${res.statusCode}`);
        res.resume();
      },
    );
    req.on('error', (err) => this.bad.add(`HTTP error ${err.message}`));
    req.end(body);
  }

  problems(): string[] {
    return [...this.bad.list, ...this.receiverProblems()];
  }

  close(): void {
    this.agent.destroy();
  }
}

/** POSTs JSON and fails on a non-2xx answer (the floors' /routes). */
export async function postJson(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status}`);
  await res.arrayBuffer();
}
