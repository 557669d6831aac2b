import {
  Client,
  type IFrame,
  type IMessage,
  type IStompSocket,
  type StompHeaders,
  type StompSubscription,
} from '@stomp/stompjs';
import WebSocket from 'ws';
import { deferred, waitFor } from './wait.js';

/** A real @stomp/stompjs client over a real ws socket, with what tests need to watch it. */
export interface TestClient {
  readonly client: Client;
  readonly connected: IFrame;
  readonly errors: IFrame[];
  readonly closes: { code: number; reason: string }[];
  /**
   * The MESSAGE frames as they came off the socket (the last 100): whether the WebSocket message
   * was binary, and its text. STOMP.js itself hands every frame over as bytes, so only this tells.
   */
  readonly wire: { binary: boolean; text: string }[];
  subscribe(destination: string, headers?: StompHeaders): Inbox;
  send(destination: string, body?: string | Uint8Array, headers?: StompHeaders): void;
  /** Sends with a receipt and resolves when the RECEIPT arrives. */
  sendWithReceipt(destination: string, body?: string, headers?: StompHeaders): Promise<IFrame>;
  subscribeWithReceipt(destination: string, headers?: StompHeaders): Promise<Inbox>;
  disconnect(): Promise<void>;
}

export interface Inbox {
  readonly messages: IMessage[];
  readonly subscription: StompSubscription;
  /** Resolves once at least `n` messages arrived. */
  wait(n: number, timeoutMs?: number): Promise<IMessage[]>;
  bodies(): string[];
}

export function webSocketFactory(
  url: string,
  protocols = ['v12.stomp', 'v11.stomp', 'v10.stomp'],
  headers?: Record<string, string>,
  onMessage?: (data: Buffer, binary: boolean) => void,
) {
  return () => {
    const ws = new WebSocket(url, protocols, headers ? { headers } : {});
    // STOMP.js sets binaryType 'arraybuffer': data comes as ArrayBuffer (or Buffer[] when fragmented).
    if (onMessage)
      ws.on('message', (data: WebSocket.RawData, binary: boolean) =>
        onMessage(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer), binary),
      );
    return ws as unknown as IStompSocket;
  };
}

let receiptSeq = 0;

export async function connectClient(
  url: string,
  options: {
    login?: string;
    connectHeaders?: StompHeaders;
    versions?: string[];
    heartbeat?: [number, number];
    timeoutMs?: number;
    wsHeaders?: Record<string, string>;
  } = {},
): Promise<TestClient> {
  const errors: IFrame[] = [];
  const closes: { code: number; reason: string }[] = [];
  const wire: { binary: boolean; text: string }[] = [];
  const record = (data: Buffer, binary: boolean): void => {
    if (data.subarray(0, 8).toString('latin1') !== 'MESSAGE\n') return;
    wire.push({ binary, text: data.toString('latin1') });
    if (wire.length > 100) wire.shift();
  };
  const ready = deferred<IFrame>();
  const client = new Client({
    webSocketFactory: webSocketFactory(
      url,
      options.versions?.map((v) => `v${v.replace('.', '')}.stomp`),
      options.wsHeaders,
      record,
    ),
    connectHeaders: { ...(options.login !== undefined ? { login: options.login } : {}), ...options.connectHeaders },
    reconnectDelay: 0,
    heartbeatIncoming: options.heartbeat?.[1] ?? 0,
    heartbeatOutgoing: options.heartbeat?.[0] ?? 0,
    debug: () => {},
    onConnect: (frame) => ready.resolve(frame),
    onStompError: (frame) => {
      errors.push(frame);
      ready.reject(new Error(`STOMP ERROR: ${frame.headers.message ?? ''}`));
    },
    onWebSocketClose: (evt: { code: number; reason: string }) => {
      closes.push({ code: evt.code, reason: evt.reason });
      ready.reject(new Error(`socket closed ${evt.code} ${evt.reason}`));
    },
  });
  if (options.versions) {
    const { Versions } = await import('@stomp/stompjs');
    client.stompVersions = new Versions(options.versions);
  }
  client.activate();
  const timer = setTimeout(() => ready.reject(new Error('CONNECT timed out')), options.timeoutMs ?? 5000);
  let connected: IFrame;
  try {
    connected = await ready.promise;
  } catch (err) {
    await client.deactivate();
    throw err;
  } finally {
    clearTimeout(timer);
  }

  const subscribe = (destination: string, headers: StompHeaders = {}): Inbox => {
    const messages: IMessage[] = [];
    const subscription = client.subscribe(destination, (m) => messages.push(m), headers);
    return {
      messages,
      subscription,
      wait: (n, timeoutMs = 5000) =>
        waitFor(() => (messages.length >= n ? messages : undefined), `${n} message(s) on ${destination}`, timeoutMs),
      bodies: () => messages.map((m) => m.body),
    };
  };
  const receipt = (): { id: string; promise: Promise<IFrame> } => {
    const id = `r-${++receiptSeq}`;
    const got = deferred<IFrame>();
    client.watchForReceipt(id, (f) => got.resolve(f));
    return { id, promise: got.promise };
  };

  return {
    client,
    connected,
    errors,
    closes,
    wire,
    subscribe,
    send: (destination, body, headers = {}) => {
      if (body instanceof Uint8Array) client.publish({ destination, binaryBody: body, headers });
      else client.publish({ destination, body: body ?? '', headers });
    },
    sendWithReceipt: async (destination, body = '', headers = {}) => {
      const r = receipt();
      client.publish({ destination, body, headers: { ...headers, receipt: r.id } });
      return r.promise;
    },
    subscribeWithReceipt: async (destination, headers = {}) => {
      const r = receipt();
      const inbox = subscribe(destination, { ...headers, receipt: r.id });
      await r.promise;
      return inbox;
    },
    disconnect: () => client.deactivate(),
  };
}
