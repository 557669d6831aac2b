/**
 * Collaborative editing (SPEC §12): N editors of one Yjs document, each appending a small update
 * at a fixed rate, through the product (two cluster nodes, editors alternating between them,
 * history on for the update topic as in the demo) and through y-websocket's own single server
 * holding the same document, in the same run. Each update carries its send time (one clock: every
 * editor lives in the bench process); every other editor records when it applied it.
 */
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { StompYjsProvider } from '../../../client/yjs-provider.js';
import { startFloors, startProduct, withCleanup, type BenchContext } from '../context.js';
import { cpuMeter, runFixedRate, type FixedResult } from '../load.js';
import { sumCpu } from '../processes.js';
import { percentiles } from '../stats.js';
import { startRelayFloor } from './cross-peers.js';

interface Stamp {
  readonly t: number;
}

interface BenchEditor {
  readonly list: Y.Array<Stamp>;
  readonly synced: Promise<void>;
  close(): Promise<void>;
}

interface Load {
  readonly editors: number;
  /** Updates per second per editor. */
  readonly rate: number;
  /** Every product editor on one node (no RabbitMQ hop between them). */
  readonly oneNode?: boolean;
}

interface Outcome {
  readonly sent: number;
  readonly applied: number;
  readonly p50: number;
  readonly p99: number;
  /** From the last update sent until every editor had applied every update. */
  readonly drainMs: number;
  readonly converged: boolean;
  /** Share of a core taken by the server processes and by the bench process (the editors). */
  readonly serverCores: number;
  readonly clientCores: number;
}

const LOADS: readonly Load[] = [
  { editors: 2, rate: 100, oneNode: true },
  { editors: 2, rate: 100 },
  { editors: 10, rate: 100 },
  { editors: 100, rate: 10 },
  { editors: 100, rate: 100 },
];
const DRAIN_LIMIT_MS = 20_000;

function stompEditor(url: string, login: string, docId: string): BenchEditor {
  const doc = new Y.Doc();
  const client = new Client({
    webSocketFactory: () => new WebSocket(url, ['v12.stomp']),
    connectHeaders: { login },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => {},
  });
  const provider = new StompYjsProvider(client, docId, doc);
  const synced = new Promise<void>((resolve) => provider.on('synced', (s) => s && resolve()));
  client.activate();
  return {
    list: doc.getArray<Stamp>('stamps'),
    synced,
    close: async () => {
      provider.destroy();
      await client.deactivate();
    },
  };
}

function ywsEditor(url: string, room: string): BenchEditor {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  const synced = new Promise<void>((resolve) => provider.on('sync', (s: boolean) => s && resolve()));
  return {
    list: doc.getArray<Stamp>('stamps'),
    synced,
    close: async () => provider.destroy(),
  };
}

async function drive(
  editors: readonly BenchEditor[],
  load: Load,
  durationMs: number,
  serverPids: readonly number[],
): Promise<Outcome> {
  await Promise.all(editors.map((e) => e.synced));
  const cpu0 = { server: sumCpu(serverPids), client: process.cpuUsage(), at: performance.now() };
  const latencies: number[] = [];
  for (const e of editors) {
    e.list.observe((event, tr) => {
      if (tr.local) return;
      const now = performance.now();
      for (const item of event.changes.added)
        for (const c of item.content.getContent() as Stamp[]) latencies.push(now - c.t);
    });
  }
  let sent = 0;
  const start = performance.now();
  // Open loop: every 10 ms each editor catches up with its schedule.
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.floor((Math.min(elapsed, durationMs) / 1000) * load.rate);
      const perEditor = sent / editors.length;
      for (let k = perEditor; k < due; k++) {
        for (const e of editors) {
          e.list.push([{ t: performance.now() }]);
          sent++;
        }
      }
      if (elapsed >= durationMs) {
        clearInterval(tick);
        resolve();
      }
    }, 10);
  });
  const stopped = performance.now();
  const deadline = stopped + DRAIN_LIMIT_MS;
  while (performance.now() < deadline && editors.some((e) => e.list.length < sent))
    await new Promise((r) => setTimeout(r, 20));
  const drainMs = performance.now() - stopped;
  const wallMicros = (performance.now() - cpu0.at) * 1000;
  const client = process.cpuUsage(cpu0.client);
  const { p50, p99 } = percentiles(Float64Array.from(latencies), latencies.length);
  return {
    sent,
    applied: latencies.length,
    p50,
    p99,
    drainMs,
    converged: editors.every((e) => e.list.length === sent),
    serverCores: (sumCpu(serverPids) - cpu0.server) / wallMicros,
    clientCores: (client.user + client.system) / wallMicros,
  };
}

function describe(o: Outcome, load: Load, durationMs: number): string {
  const expected = o.sent * (load.editors - 1);
  const rate = o.applied / ((durationMs + o.drainMs) / 1000);
  return `${o.applied}/${expected} applied (${Math.round(rate)}/s), p50 ${o.p50.toFixed(1)} ms, p99 ${o.p99.toFixed(1)} ms, drained ${Math.round(o.drainMs)} ms after the last${o.converged ? '' : ', NOT converged'}; cores: server ${o.serverCores.toFixed(2)}, editors ${o.clientCores.toFixed(2)}`;
}

function productLabel(load: Load): string {
  return load.oneNode ? 'stomp-relay (editors on 1 node of 2)' : 'stomp-relay (editors on 2 nodes)';
}

/** The relay floor (as RabbitMQ is used by the product, quorum node queues) at `rate` for `durationMs`. */
async function hopFloor(
  ctx: BenchContext,
  defer: (f: () => Promise<unknown> | void) => void,
  rate: number,
  durationMs: number,
): Promise<FixedResult> {
  const { pipe, pids } = await startRelayFloor(ctx, defer, 'yjsf', 'persistent', 'quorum');
  pipe.size = 40; // a typed character's update and its envelope, about
  return runFixedRate(pipe, { rate, durationMs, maxInFlight: 5000 }, () => cpuMeter(pids, ctx.infraPids));
}

export async function yjs(ctx: BenchContext): Promise<void> {
  const durationMs = ctx.args.quick ? 3000 : 5000;
  await withCleanup(async (defer) => {
    const product = await startProduct(ctx, 'yjs', 2, 'cluster', { HISTORY_DESTINATIONS: '/topic/docs/*/yjs' });
    defer(() => product.stop());
    const peer = await startFloors(ctx, 'yws', 'yws-peer.ts', 1);
    defer(() => peer.stop());
    let run = 0;
    const picked = ctx.args.editors;
    for (const load of LOADS.filter((l) => picked.length === 0 || picked.includes(l.editors))) {
      const results: Record<'product' | 'yws', Outcome> = {} as Record<'product' | 'yws', Outcome>;
      for (const which of ['product', 'yws'] as const) {
        const docId = `bench-${++run}`;
        const editors = Array.from({ length: load.editors }, (_, i) =>
          which === 'product'
            ? stompEditor(product.wsUrl(load.oneNode ? 0 : i % 2), `editor-${i}`, docId)
            : ywsEditor(`ws://127.0.0.1:${peer.nodes[0]!.port}`, docId),
        );
        // The product's CPU includes RabbitMQ's and Redis's (its relay and its document store).
        const pids =
          which === 'product' ? [...product.nodes.map((n) => n.pid), ...ctx.infraPids] : peer.nodes.map((n) => n.pid);
        try {
          results[which] = await drive(editors, load, durationMs, pids);
        } finally {
          await Promise.all(editors.map((e) => e.close()));
        }
        ctx.progress(
          `  yjs ${load.editors} editors × ${load.rate}/s, ${which === 'product' ? productLabel(load) : 'y-websocket server'}: ${describe(results[which], load, durationMs)}`,
        );
      }
      const ratio = results.product.p99 / results.yws.p99;
      let line = `Yjs, ${load.editors} editors × ${load.rate} updates/s each for ${durationMs / 1000} s — ${productLabel(load)}: ${describe(results.product, load, durationMs)}; y-websocket's server: ${describe(results.yws, load, durationMs)}; p99 ×${ratio.toFixed(2)} of y-websocket's.`;
      if (load.editors === 2 && !load.oneNode) {
        // Between nodes, RabbitMQ's hop alone: the relay floor at the same message rate.
        const floor = await hopFloor(ctx, defer, load.editors * load.rate, durationMs);
        const f = floor.latency;
        ctx.progress(
          `  yjs floor: ws→amqplib→ws on quorum queues, 2 processes, ${load.editors * load.rate} msg/s: ${floor.delivered}/${floor.sent}, p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms`,
        );
        line += ` The hop's floor (ws→amqplib→ws between two processes on quorum queues, ${load.editors * load.rate} msg/s): p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms — y-websocket's p99 ×${(f.p99 / results.yws.p99).toFixed(2)}; the product's p99 ×${(results.product.p99 / f.p99).toFixed(2)} of this floor.`;
      }
      ctx.notes.push(line);
    }
  });
}
