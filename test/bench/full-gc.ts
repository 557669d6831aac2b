/**
 * A full garbage collection in a running Node process of the bench, from outside: SIGUSR1 opens
 * its inspector (Node's own handler, on 127.0.0.1:9229), the DevTools protocol's
 * `HeapProfiler.collectGarbage` runs, and the inspector is closed again. Neither the product nor
 * a floor needs a flag or an endpoint for it, and both are measured the same way: memory held
 * by their connections, not garbage that a process happened not to have collected yet.
 * One process at a time (one inspector port).
 */
import WebSocket from 'ws';
import { sleep } from './load.js';

const INSPECTOR = 'http://127.0.0.1:9229';

interface Reply {
  readonly id?: number;
  readonly result?: { readonly result?: { readonly value?: unknown } };
  readonly error?: { readonly message: string };
}

/** Resolves true once `pid` ran a full GC; false if its inspector could not be reached (nothing measured). */
export async function fullGc(pid: number): Promise<boolean> {
  process.kill(pid, 'SIGUSR1');
  let url: string | undefined;
  for (let i = 0; i < 50 && url === undefined; i++) {
    await sleep(100);
    try {
      const targets = (await (await fetch(`${INSPECTOR}/json/list`)).json()) as { webSocketDebuggerUrl?: string }[];
      url = targets[0]?.webSocketDebuggerUrl;
    } catch {
      // not listening yet
    }
  }
  if (url === undefined) return false;
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let next = 0;
    const call = (method: string, params: object = {}): Promise<Reply> =>
      new Promise((resolve, reject) => {
        const id = ++next;
        const onMessage = (data: Buffer): void => {
          const reply = JSON.parse(data.toString('utf8')) as Reply;
          if (reply.id !== id) return;
          ws.off('message', onMessage);
          if (reply.error) reject(new Error(reply.error.message));
          else resolve(reply);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id, method, params }));
      });
    // Port 9229 could be another process's: collect only in the one asked for.
    const owner = await call('Runtime.evaluate', { expression: 'process.pid' });
    if (owner.result?.result?.value !== pid) return false;
    await call('HeapProfiler.collectGarbage');
    // Closes the inspector (an internal of Node's, as SIGUSR1's opening is): the port is free for the next.
    ws.send(JSON.stringify({ id: 0, method: 'Runtime.evaluate', params: { expression: 'process._debugEnd()' } }));
    await sleep(200);
    return true;
  } finally {
    ws.terminate();
  }
}
