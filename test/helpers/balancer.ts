import net from 'node:net';
import { forwardBoth, listenLoopback } from './tcp-forward.js';

/** One client connection the balancer forwards, and the backend it went to. */
export interface BalancedConnection {
  readonly backend: number;
  readonly openedAt: number;
}

/**
 * A round-robin TCP balancer on 127.0.0.1 (port 0) for fault tests, standing in for the nginx of
 * `npm run cluster`: each new connection goes to the next backend port; a backend that refuses the
 * connection (its node is dead or gone) is skipped for the next one, and a connection that no
 * backend takes is reset. It knows nothing of HTTP: a draining node that answers the WebSocket
 * upgrade with 503 is the client's problem, as behind a real balancer (STOMP.js reconnects).
 */
export interface Balancer {
  readonly port: number;
  /** `ws://127.0.0.1:{port}{path}`: what a client's brokerURL points at. */
  url(path?: string): string;
  /** Connections open now, per backend port. */
  openTo(backend: number): number;
  /** Every connection made so far, in order (for the test's report). */
  readonly history: readonly BalancedConnection[];
  /** Connections that found no backend accepting. */
  readonly refused: number;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  upstream: net.Socket | undefined;
  backend: number | undefined;
}

/** Per-backend TCP connect bound: a backend that neither accepts nor refuses is skipped after this. */
const CONNECT_TIMEOUT_MS = 1000;

export async function startBalancer(backends: readonly number[]): Promise<Balancer> {
  if (backends.length === 0) throw new Error('a balancer needs at least one backend');
  const pairs = new Set<Pair>();
  const history: BalancedConnection[] = [];
  let next = 0;
  let refused = 0;
  let closed = false;

  const destroy = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.upstream?.destroy();
  };

  /** Tries backends from the round-robin position, each at most once. */
  const dial = (pair: Pair, tried: number) => {
    if (closed || pair.client.destroyed) return destroy(pair);
    if (tried >= backends.length) {
      refused++;
      pair.client.resetAndDestroy();
      pairs.delete(pair);
      return;
    }
    const backend = backends[next % backends.length]!;
    next++;
    const upstream = net.connect({ host: '127.0.0.1', port: backend });
    upstream.setNoDelay(true);
    const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), CONNECT_TIMEOUT_MS);
    const onEarlyError = () => {
      clearTimeout(timer);
      upstream.destroy();
      dial(pair, tried + 1);
    };
    upstream.once('error', onEarlyError);
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.off('error', onEarlyError);
      if (closed || pair.client.destroyed) {
        upstream.destroy();
        return destroy(pair);
      }
      pair.upstream = upstream;
      pair.backend = backend;
      history.push({ backend, openedAt: Date.now() });
      upstream.on('error', () => destroy(pair));
      upstream.on('close', () => destroy(pair));
      forwardBoth(pair.client, upstream);
      pair.client.resume();
    });
  };

  const listener = await listenLoopback((client) => {
    const pair: Pair = { client, upstream: undefined, backend: undefined };
    client.on('error', () => destroy(pair));
    client.on('close', () => destroy(pair));
    pairs.add(pair);
    dial(pair, 0);
  });
  const { port } = listener;

  return {
    port,
    url: (path = '/ws') => `ws://127.0.0.1:${port}${path}`,
    openTo: (backend) => [...pairs].filter((p) => p.backend === backend).length,
    history,
    get refused() {
      return refused;
    },
    close: async () => {
      closed = true;
      for (const pair of [...pairs]) destroy(pair);
      await listener.close();
    },
  };
}
