/**
 * Scenario 3: one publisher (on node 1) to a /topic destination with N subscribers spread evenly
 * over two cluster nodes: time until the last subscriber has a message (single messages, one at a
 * time) and deliveries/s (closed loop, a bounded window of undelivered messages).
 * Floor: two bare ws servers, N/2 clients each, pushing server → client one way.
 */
import type WebSocket from 'ws';
import { startFloors, startProduct, withCleanup, type BenchContext } from '../context.js';
import { inBatches, LeanStompClient } from '../lean-stomp-client.js';
import {
  cpuMeter,
  Recorder,
  runMaxThroughput,
  sleep,
  stampedText,
  type CpuSample,
  type MaxResult,
  type Pipe,
} from '../load.js';
import { openRaw, receiveRaw, receiveStomp, StompSendPipe } from '../pipes.js';
import type { FanoutFigure, ProbeResult } from '../report.js';

const CONNECT_CONCURRENCY = 50;
const PROBE_TIMEOUT_MS = 5000;

function figure(
  ctx: BenchContext,
  id: string,
  label: string,
  size: number,
  subscribers: number,
  floor?: string,
): FanoutFigure {
  const f: FanoutFigure = {
    kind: 'fanout',
    id,
    label,
    size,
    subscribers,
    ...(floor ? { floor } : {}),
    probes: [],
    max: [],
    problems: [],
  };
  ctx.figures.push(f);
  return f;
}

/** One message at a time, each waited for at every subscriber. */
async function probe(pipe: Pipe, count: number, subscribers: number): Promise<ProbeResult> {
  const rec = new Recorder(count, subscribers);
  pipe.recorder = rec;
  for (let k = 0; k < count; k++) {
    pipe.send(k);
    await rec.until(k + 1, PROBE_TIMEOUT_MS);
    await sleep(10);
  }
  return { latency: rec.latency(), probes: count, complete: rec.completed };
}

/** The floor's pipe: `send` asks both floor servers to push one stamped message to their sinks. */
class FloorPushPipe implements Pipe {
  recorder: Recorder | undefined;
  size = 100;
  constructor(private readonly ctls: readonly WebSocket[]) {}
  send(seq: number): void {
    const cmd = JSON.stringify({ op: 'push', count: 1, payload: stampedText(seq, this.size) });
    for (const c of this.ctls) c.send(cmd);
  }
  /** `count` messages pushed by the servers as fast as their sockets take them. */
  async blast(count: number, subscribers: number, meter: () => () => CpuSample): Promise<MaxResult> {
    const rec = new Recorder(count, subscribers);
    this.recorder = rec;
    const cmd = JSON.stringify({ op: 'push', count, payload: stampedText(0, this.size) });
    const stop = meter();
    const start = performance.now();
    for (const c of this.ctls) c.send(cmd);
    const done = await rec.until(count, 60_000);
    const cpu = stop();
    const elapsedMs = rec.lastAtMs - start;
    return {
      mode: 'max',
      sent: count,
      completed: rec.completed,
      deliveries: rec.deliveries,
      elapsedMs,
      rate: rec.completed / (elapsedMs / 1000),
      deliveriesPerSec: rec.deliveries / (elapsedMs / 1000),
      latency: rec.latency(),
      cpu,
      stalled: !done,
    };
  }
  problems(): string[] {
    return [];
  }
}

export async function fanout(ctx: BenchContext, floorOnly = false): Promise<void> {
  const { args } = ctx;
  await withCleanup(async (defer) => {
    const floors = await startFloors(ctx, 's3f', 'ws-floor.ts', 2);
    defer(() => floors.stop());
    const floorPids = floors.nodes.map((n) => n.pid);
    const cluster = floorOnly ? undefined : await startProduct(ctx, 's3', 2, 'cluster');
    if (cluster) defer(() => cluster.stop());
    const nodePids = cluster?.nodes.map((n) => n.pid) ?? [];
    const meterOf = (pids: readonly number[]) => () => cpuMeter(pids, ctx.infraPids);

    for (const n of args.fanoutSubscribers) {
      await withCleanup(async (deferN) => {
        const half = Math.ceil(n / 2);
        // Floor: sinks and one control connection per floor server.
        const floorPipe = new FloorPushPipe(
          await Promise.all(floors.nodes.map((f) => openRaw(`ws://127.0.0.1:${f.port}/ctl`))),
        );
        const sinks = await inBatches(n, CONNECT_CONCURRENCY, (i) =>
          openRaw(`ws://127.0.0.1:${floors.nodes[i < half ? 0 : 1]!.port}/sink`),
        );
        deferN(() => {
          for (const s of sinks) s.terminate();
        });
        for (const s of sinks) receiveRaw(s, floorPipe);

        // Product: N subscribers over both nodes, the publisher on node 1.
        let productPipe: StompSendPipe | undefined;
        if (cluster) {
          const destination = `/topic/bench/fanout-${n}`;
          const t0 = performance.now();
          const subs = await inBatches(n, CONNECT_CONCURRENCY, async (i) => {
            const c = await LeanStompClient.connect({ url: cluster.wsUrl(i < half ? 0 : 1), login: `fan-${n}-${i}` });
            await c.subscribe(destination, 'sub-0');
            return c;
          });
          deferN(() => inBatches(subs.length, 200, (i) => subs[i]!.close()));
          const publisher = await LeanStompClient.connect({ url: cluster.wsUrl(0), login: `fan-${n}-pub` });
          deferN(() => publisher.close());
          productPipe = new StompSendPipe(publisher, destination, subs);
          for (const s of subs) receiveStomp(s, productPipe);
          ctx.progress(
            `  ${n} subscribers connected and subscribed in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
          );
        }

        for (const size of args.sizes) {
          const ff = figure(ctx, 'floor.push', 'raw ws server→client, 2 procs', size, n);
          const pf = productPipe
            ? figure(ctx, 'fanout', 'S3 fan-out /topic, 2 nodes', size, n, 'floor.push')
            : undefined;
          const count = Math.max(2, Math.round(args.fanoutDeliveries(size) / n));
          const window = Math.max(2, Math.round((size <= 1024 ? 20_000 : 5_000) / n));
          floorPipe.size = size;
          if (productPipe) productPipe.size = size;
          // Warm-up, unmeasured.
          await floorPipe.blast(Math.max(2, Math.round(count / 4)), n, meterOf(floorPids));
          if (productPipe)
            await runMaxThroughput(
              productPipe,
              { count: Math.max(2, Math.round(count / 4)), timeLimitMs: 2000, window, expect: n },
              meterOf(nodePids),
            );
          for (let r = 0; r < args.runs; r++) {
            const fp = await probe(floorPipe, args.fanoutProbes, n);
            await sleep(200);
            const fm = await floorPipe.blast(count, n, meterOf(floorPids));
            await sleep(300);
            ff.probes.push(fp);
            ff.max.push(fm);
            const line = (label: string, p: ProbeResult, m: MaxResult) =>
              `  ${label} ×${n} ${size} B run ${r + 1}/${args.runs}: to last p50 ${p.latency.p50.toFixed(2)} max ${p.latency.max.toFixed(2)} ms (${p.complete}/${p.probes}) | ${Math.round(m.deliveriesPerSec).toLocaleString('en-US')} deliveries/s${m.stalled ? ' STALLED' : ''}, ${(m.cpu.serverUs / m.deliveries).toFixed(2)} µs/delivery`;
            ctx.progress(line(ff.label, fp, fm));
            if (productPipe && pf) {
              const pp = await probe(productPipe, args.fanoutProbes, n);
              await sleep(200);
              const pm = await runMaxThroughput(
                productPipe,
                { count, timeLimitMs: Math.max(args.maxTimeMs, 5000), window, expect: n, drainMs: 20_000 },
                meterOf(nodePids),
              );
              await sleep(300);
              pf.probes.push(pp);
              pf.max.push(pm);
              for (const p of productPipe.problems()) if (!pf.problems.includes(p)) pf.problems.push(p);
              ctx.progress(line(pf.label, pp, pm) + (pf.problems.length > 0 ? ` ⚠ ${pf.problems[0]}` : ''));
            }
          }
        }
      });
    }
  });
}
