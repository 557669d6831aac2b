import net from 'node:net';

/** What the TCP forwarders of the fault tests (tcp-proxy.ts, balancer.ts) share: the listener and the piping. */
export interface LoopbackListener {
  readonly port: number;
  /** Stops accepting; resolves once every accepted connection is gone (destroy them first). */
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1, port 0. Each accepted socket is handed over paused, so that nothing is
 * read before it has an upstream, and with Nagle off, so that no frame waits in the forwarder.
 */
export async function listenLoopback(accept: (client: net.Socket) => void): Promise<LoopbackListener> {
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    client.setNoDelay(true);
    accept(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Moves bytes both ways between `a` and `b` with backpressure, and ends each side's writes when
 * the other side ends. A side paused because the other could not take more resumes on 'drain'
 * only while `flowing()`: a stalled proxy keeps it paused.
 */
export function forwardBoth(a: net.Socket, b: net.Socket, flowing: () => boolean = () => true): void {
  forward(a, b, flowing);
  forward(b, a, flowing);
}

function forward(from: net.Socket, to: net.Socket, flowing: () => boolean): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => {
    if (flowing()) from.resume();
  });
  from.on('end', () => to.end());
}
