import net from 'node:net';
import { forwardBoth, listenLoopback } from './tcp-forward.js';

export type ProxyState = 'open' | 'cut' | 'stalled';

/**
 * A TCP forwarder on 127.0.0.1 (port 0) to one target, for fault tests: point a node's REDIS_URL
 * or AMQP_URL at `url(…)`, then break the link without touching the server.
 */
export interface TcpProxy {
  readonly port: number;
  readonly state: ProxyState;
  /** Connections currently open through the proxy. */
  readonly connections: number;
  /** `base` (e.g. `amqp://guest:guest@127.0.0.1:5672`) with host and port replaced by the proxy's. */
  url(base: string): string;
  /** Resets every open connection (RST) and refuses new ones until `restore()`: a crashed peer. */
  cut(): void;
  /**
   * Stops moving bytes both ways, connections stay open (new ones are accepted and held): a
   * network that black-holes packets. `restore()` delivers what was held, as TCP would.
   */
  stall(): void;
  /** Back to forwarding; held bytes and held connections go through. */
  restore(): void;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  upstream: net.Socket | undefined;
}

export async function startTcpProxy(target: { host: string; port: number } | string): Promise<TcpProxy> {
  const to = typeof target === 'string' ? hostPort(target) : target;
  const pairs = new Set<Pair>();
  let state: ProxyState = 'open';

  const destroy = (pair: Pair, reset: boolean) => {
    pairs.delete(pair);
    for (const s of [pair.client, pair.upstream]) {
      if (!s || s.destroyed) continue;
      if (reset && s.readyState === 'open') s.resetAndDestroy();
      else s.destroy();
    }
  };

  const connectUpstream = (pair: Pair) => {
    const upstream = net.connect(to);
    pair.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on('error', () => destroy(pair, false));
    upstream.on('close', () => destroy(pair, false));
    forwardBoth(pair.client, upstream, () => state === 'open');
    // Paused sockets leave bytes in the kernel buffers: the peer's sends block as on a dead network.
    if (state === 'open') pair.client.resume();
    else upstream.pause();
  };

  const listener = await listenLoopback((client) => {
    const pair: Pair = { client, upstream: undefined };
    client.on('error', () => destroy(pair, false));
    client.on('close', () => destroy(pair, false));
    if (state === 'cut') {
      client.resetAndDestroy();
      return;
    }
    pairs.add(pair);
    // While stalled, even the upstream connect waits: nothing gets through until restore().
    if (state === 'open') connectUpstream(pair);
  });
  const { port } = listener;

  return {
    port,
    get state() {
      return state;
    },
    get connections() {
      return pairs.size;
    },
    url: (base) => {
      const u = new URL(base);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut: () => {
      state = 'cut';
      for (const pair of [...pairs]) destroy(pair, true);
    },
    stall: () => {
      state = 'stalled';
      for (const { client, upstream } of pairs) {
        client.pause();
        upstream?.pause();
      }
    },
    restore: () => {
      state = 'open';
      for (const pair of pairs) {
        if (!pair.upstream) connectUpstream(pair);
        pair.client.resume();
        pair.upstream?.resume();
      }
    },
    close: async () => {
      state = 'cut';
      for (const pair of [...pairs]) destroy(pair, false);
      await listener.close();
    },
  };
}

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  const defaults: Record<string, number> = { 'redis:': 6379, 'rediss:': 6380, 'amqp:': 5672, 'amqps:': 5671 };
  const port = u.port ? Number(u.port) : defaults[u.protocol];
  if (port === undefined) throw new Error(`no port in ${url}`);
  return { host: u.hostname, port };
}
