/**
 * The product driven by what users run: real @stomp/stompjs clients (on `ws`, as in Node), with
 * their defaults (10 s heart-beats both ways) and string bodies read from `message.body`. They cost
 * the bench process far more CPU per message than the lean client; the report shows how much of a
 * core they took, so a figure capped by the client is seen as such.
 */
import { Client, type IFrame, type IMessage } from '@stomp/stompjs';
import WebSocket from 'ws';
import { readStampText, stampedText, type Recorder } from './load.js';
import type { SizedPipe } from './pipes.js';

const MAX_KEPT_PROBLEMS = 20;
let receiptSeq = 0;

export class StompJsClient {
  readonly problems: string[] = [];
  private closing = false;

  private constructor(readonly client: Client) {}

  static async connect(url: string, login: string, timeoutMs = 10_000): Promise<StompJsClient> {
    let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
    const client = new Client({
      webSocketFactory: () => new WebSocket(url, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
      connectHeaders: { login, passcode: '' },
      reconnectDelay: 0,
      debug: () => {},
    });
    const self = new StompJsClient(client);
    const note = (p: string) => {
      if (self.problems.length < MAX_KEPT_PROBLEMS) self.problems.push(p);
    };
    client.onConnect = () => settle?.resolve();
    client.onStompError = (f: IFrame) => {
      note(`ERROR ${f.headers.message ?? ''}`);
      settle?.reject(new Error(`STOMP ERROR ${f.headers.message ?? ''}`));
    };
    client.onWebSocketClose = (evt: { code: number; reason: string }) => {
      if (!self.closing) note(`socket closed ${evt.code} ${evt.reason}`);
      settle?.reject(new Error(`socket closed ${evt.code} before CONNECTED`));
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        settle = { resolve, reject };
        timer = setTimeout(() => reject(new Error(`STOMP.js CONNECT to ${url} timed out`)), timeoutMs);
        client.activate();
      });
    } catch (err) {
      await self.close();
      throw err;
    } finally {
      clearTimeout(timer);
      settle = undefined;
    }
    return self;
  }

  /** SUBSCRIBE with a receipt; resolves once the server confirmed it. */
  subscribe(destination: string, onMessage: (m: IMessage) => void, timeoutMs = 10_000): Promise<void> {
    const receipt = `sjs-${++receiptSeq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no RECEIPT for SUBSCRIBE ${destination}`)), timeoutMs);
      this.client.watchForReceipt(receipt, () => {
        clearTimeout(timer);
        resolve();
      });
      this.client.subscribe(destination, onMessage, { receipt });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.client.deactivate();
  }
}

/** A STOMP.js client SENDs string bodies to `destination`; receivers read `message.body`. */
export class StompJsSendPipe implements SizedPipe {
  recorder: Recorder | undefined;
  size = 100;

  constructor(
    private readonly sender: StompJsClient,
    private readonly destination: string,
    private readonly receivers: readonly StompJsClient[],
  ) {}

  /** Subscribes `receiver` to `destination` and reports each MESSAGE's stamp to this pipe's recorder. */
  receiveOn(receiver: StompJsClient, destination: string): Promise<void> {
    const stamp = { seq: 0, ts: 0 };
    return receiver.subscribe(destination, (m) => {
      if (readStampText(m.body, 0, stamp)) this.recorder?.record(stamp.seq, stamp.ts);
    });
  }

  send(seq: number): void {
    this.sender.client.publish({ destination: this.destination, body: stampedText(seq, this.size) });
  }

  problems(): string[] {
    return [this.sender, ...this.receivers].flatMap((c) => c.problems);
  }
}
