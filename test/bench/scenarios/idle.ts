/**
 * Scenario 5: N idle STOMP sessions with heart-beats on (10 s both ways) on cluster-mode nodes:
 * RSS and heap per connection, connect rate (WebSocket upgrade + CONNECT → CONNECTED, 200 at a
 * time). Floor: N bare WebSockets on a bare ws server, heart-beating as the sessions do. One process may hold at most `ulimit -n`
 * sockets (20,000 here), so above 10,000 sessions both the servers and the client holders are
 * spread over ceil(N / 10,000) processes.
 */
import { startFloors, startProduct, withCleanup, type BenchContext } from '../context.js';
import { sleep } from '../load.js';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { REPO_ROOT, rssBytes, spawnChild, sumCpu, type BenchChild } from '../processes.js';
import type { IdleFigure } from '../report.js';
import { median } from '../stats.js';
import { fullGc } from '../full-gc.js';
import path from 'node:path';

const PER_PROCESS = 10_000;

async function heapOf(server: BenchChild, product: boolean): Promise<number> {
  try {
    if (product) {
      const text = await (await fetch(`${server.http}/metrics`)).text();
      const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec(text);
      return m ? Number(m[1]) : NaN;
    }
    const stats = (await (await fetch(`${server.http}/stats`)).json()) as { heapUsed: number };
    return stats.heapUsed;
  } catch {
    return NaN;
  }
}

/** Median of three samples a second apart, summed over the servers. */
async function sampleMemory(servers: readonly BenchChild[], product: boolean): Promise<{ rss: number; heap: number }> {
  const rss: number[] = [],
    heap: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(1000);
    rss.push(servers.reduce((s, n) => s + rssBytes(n.pid), 0));
    let h = 0;
    for (const n of servers) h += await heapOf(n, product);
    heap.push(h);
  }
  return { rss: median(rss), heap: median(heap) };
}

/**
 * RSS and heap summed over the servers, each read right after a full GC of its own: what the
 * connections hold, without the garbage a process has not collected yet (the product makes more
 * of it per CONNECT than a bare ws server, and V8 collects its old space only now and then).
 * NaN when a process could not be collected.
 */
async function memoryAfterGc(servers: readonly BenchChild[], product: boolean): Promise<{ rss: number; heap: number }> {
  let rss = 0,
    heap = 0;
  for (const n of servers) {
    if (!(await fullGc(n.pid))) return { rss: NaN, heap: NaN };
    rss += rssBytes(n.pid);
    heap += await heapOf(n, product);
  }
  return { rss, heap };
}

/** Kernel memory of TCP sockets, machine-wide (/proc/net/sockstat `TCP: … mem <pages>`). */
function tcpKernelBytes(): number {
  const m = /^TCP:.*\bmem (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'));
  return m ? Number(m[1]) * 4096 : NaN;
}

/** A node's heart-beat closes so far and its event loop's worst delay since the last read of /metrics. */
async function nodeBeatHealth(server: BenchChild): Promise<{ timeouts: number; lagMaxMs: number }> {
  try {
    const text = await (await fetch(`${server.http}/metrics`)).text();
    const timeouts = /^stomp_errors_total\{code="HEARTBEAT_TIMEOUT"\} (\S+)/m.exec(text);
    const lag = /^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? (\S+)/m.exec(text);
    return { timeouts: timeouts ? Number(timeouts[1]) : 0, lagMaxMs: lag ? Number(lag[1]) * 1000 : NaN };
  } catch {
    return { timeouts: NaN, lagMaxMs: NaN };
  }
}

/** "while connecting: …" — whether heart-beats were late on either side, and who closed sessions for it. */
function beatLine(
  phase: string,
  clients: { problems: number; lateMs: number }[],
  nodes: { timeouts: number; lagMaxMs: number }[] | undefined,
): string {
  const problems = clients.reduce((n, c) => n + c.problems, 0);
  const late = Math.max(...clients.map((c) => c.lateMs));
  const node = nodes
    ? `; nodes closed ${nodes.reduce((n, h) => n + h.timeouts, 0)} for silence, their loops stalled up to ${Math.round(Math.max(...nodes.map((h) => h.lagMaxMs)))} ms`
    : '';
  return `${phase}: ${problems} sessions had problems, client holders' beats up to ${Math.round(late)} ms late${node}`;
}

async function redisUsedBytes(ctx: BenchContext): Promise<number> {
  const redis = new Redis(ctx.args.redisUrl);
  try {
    const m = /^used_memory:(\d+)/m.exec(await redis.info('memory'));
    return m ? Number(m[1]) : NaN;
  } finally {
    redis.disconnect();
  }
}

async function measure(
  ctx: BenchContext,
  fig: IdleFigure,
  servers: readonly BenchChild[],
  product: boolean,
  urlOf: (server: BenchChild) => string,
): Promise<void> {
  await withCleanup(async (defer) => {
    await sleep(1000);
    // As held first: the collection would shrink the baseline the figures as held are taken from.
    const before = await sampleMemory(servers, product);
    const beforeGc = await memoryAfterGc(servers, product);
    const kernelBefore = tcpKernelBytes();
    const redisBefore = product ? await redisUsedBytes(ctx) : NaN;
    const per = Math.ceil(fig.sessions / servers.length);
    const results: { count: number; failed: number; ms: number; problems: number; lateMs: number; error?: string }[] =
      [];
    const statuses: { open: number; whileHolding: number; lateMs: number; sample?: string }[] = [];
    // While connecting, every 5 s: a node that closed sessions for silence or stalled over 1 s is reported.
    let connectingHealth = product ? servers.map(() => ({ timeouts: 0, lagMaxMs: 0 })) : undefined;
    const t0 = performance.now();
    let polling = false; // a slow scrape is not overlapped by the next
    let connecting = true; // a scrape answered after the connecting is over is not counted in it
    const poll = setInterval(() => {
      if (!connectingHealth || polling) return;
      polling = true;
      void Promise.all(servers.map(nodeBeatHealth)).then((now) => {
        polling = false;
        if (!connectingHealth || !connecting) return;
        now.forEach((h, i) => {
          const was = connectingHealth![i]!;
          if (h.timeouts > was.timeouts || h.lagMaxMs > 1000)
            ctx.progress(
              `    t=${Math.round((performance.now() - t0) / 1000)} s node ${i + 1}: ${h.timeouts - was.timeouts} closed for silence, loop stalled up to ${Math.round(h.lagMaxMs)} ms`,
            );
        });
        connectingHealth = now.map((h, i) => ({
          timeouts: h.timeouts,
          lagMaxMs: Math.max(h.lagMaxMs, connectingHealth![i]!.lagMaxMs),
        }));
      });
    }, 5000);
    defer(() => clearInterval(poll));
    const holders = await Promise.all(
      servers.map((s, i) =>
        spawnChild({
          name: `${fig.id}-clients-${i + 1}`,
          args: ['--import', 'tsx', path.join(REPO_ROOT, 'test/bench/idle-clients.ts')],
          env: {
            URL: urlOf(s),
            COUNT: String(Math.min(per, fig.sessions - i * per)),
            MODE: product ? 'stomp' : 'raw',
            LOGIN_PREFIX: `idle-${i}`,
            CONCURRENCY: '200',
            HEARTBEAT_MS: '10000',
          },
          noPort: true,
          // 16,667 sessions a holder at 100,000 over six: the machine's noise swings the connect rate ×2.
          startTimeoutMs: Math.max(180_000, per * 25),
          onJson: (e) => {
            if (e.msg === 'connected') results.push(e as unknown as (typeof results)[number]);
            if (e.msg === 'status') statuses.push(e as unknown as (typeof statuses)[number]);
            if (e.msg === 'window')
              ctx.progress(
                `    t=${String(e.t)} s clients ${i + 1}: ${String(e.connected)} connected, ${String(e.problems)} new problems, beats up to ${String(e.lateMs)} ms late, GC ${String(e.gcMs)} ms`,
              );
            if (e.msg === 'connected' && typeof e.problems === 'number' && e.problems > 0)
              fig.problems.push(`${e.problems} sessions had problems while connecting`);
          },
        }),
      ),
    );
    defer(() => Promise.all(holders.map((h) => h.stop(3000))));
    const connected = results.reduce((s, r) => s + r.count, 0);
    const failed = results.reduce((s, r) => s + r.failed, 0);
    if (failed > 0) fig.problems.push(`${failed} connections failed: ${results.find((r) => r.error)?.error ?? ''}`);
    fig.connectPerSec = connected / (Math.max(...results.map((r) => r.ms)) / 1000);
    ctx.progress(
      `  ${fig.label}: ${connected.toLocaleString('en-US')} connected at ${Math.round(fig.connectPerSec).toLocaleString('en-US')}/s; holding ${ctx.args.idleHoldMs / 1000} s`,
    );
    clearInterval(poll);
    connecting = false;
    // Read once now: the nodes' loop delay since then is the holding's.
    const last = product ? await Promise.all(servers.map(nodeBeatHealth)) : undefined;
    connectingHealth = last?.map((h, i) => ({
      timeouts: h.timeouts,
      lagMaxMs: Math.max(h.lagMaxMs, connectingHealth![i]!.lagMaxMs),
    }));
    ctx.progress(`  ${beatLine('while connecting', results, connectingHealth)}`);
    const cpu0 = sumCpu(servers.map((s) => s.pid));
    const held0 = performance.now();
    await sleep(ctx.args.idleHoldMs);
    const idleCores = (sumCpu(servers.map((s) => s.pid)) - cpu0) / ((performance.now() - held0) * 1000);
    const holdingHealth = product ? await Promise.all(servers.map(nodeBeatHealth)) : undefined;
    for (const h of holders) h.process.kill('SIGUSR2');
    await sleep(1000);
    const holding = beatLine(
      'while holding',
      statuses.map((st) => ({ problems: st.whileHolding, lateMs: st.lateMs })),
      holdingHealth?.map((h, i) => ({ ...h, timeouts: h.timeouts - (connectingHealth?.[i]?.timeouts ?? 0) })),
    );
    ctx.progress(`  ${holding}`);
    ctx.notes.push(holding);
    const dropped = statuses.find((st) => st.whileHolding > 0);
    if (dropped) fig.problems.push(`${holding} (${String(dropped.sample)})`);
    // Per session held when memory is read: sessions a node closed while the others connected are
    // not in it (they were counted as connected).
    const open = statuses.reduce((s, st) => s + st.open, 0);
    const held = statuses.length === holders.length && open > 0 ? open : connected;
    if (held < connected)
      fig.problems.push(
        `${(connected - held).toLocaleString('en-US')} of the sessions connected were closed before memory was read`,
      );
    const kernelAfter = tcpKernelBytes();
    const redisAfter = product ? await redisUsedBytes(ctx) : NaN;
    const after = await sampleMemory(servers, product);
    const afterGc = await memoryAfterGc(servers, product);
    fig.rssBefore = before.rss;
    fig.rssAfter = after.rss;
    fig.rssPerConn = (after.rss - before.rss) / held;
    fig.heapPerConn = (after.heap - before.heap) / held;
    fig.rssPerConnGc = (afterGc.rss - beforeGc.rss) / held;
    fig.heapPerConnGc = (afterGc.heap - beforeGc.heap) / held;
    const kibPerConn = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB/conn`;
    const line =
      `${fig.label}, ${held.toLocaleString('en-US')} sessions held on ${servers.length} process(es): RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB = ` +
      `${kibPerConn(fig.rssPerConn)}, heap ${kibPerConn(fig.heapPerConn)}; after a full GC RSS ${kibPerConn(fig.rssPerConnGc)}, heap ${kibPerConn(fig.heapPerConnGc)}; kernel TCP memory (both ends, machine-wide) ` +
      `${((kernelAfter - kernelBefore) / held / 1024).toFixed(1)} KiB/conn; idle CPU ${((idleCores * 100 * 10_000) / held).toFixed(2)} % of a core per 10,000 sessions ` +
      `(heart-beats 10 s both ways); connect ${Math.round(fig.connectPerSec).toLocaleString('en-US')}/s` +
      `${product ? `; Redis ${((redisAfter - redisBefore) / held).toFixed(0)} B/session for the registry` : ''}${fig.problems.length ? ` ⚠ ${fig.problems[0]}` : ''}`;
    ctx.progress(`  ${line}`);
    ctx.notes.push(line);
  });
}

function figure(
  ctx: BenchContext,
  id: string,
  label: string,
  sessions: number,
  servers: number,
  floor?: string,
): IdleFigure {
  const f: IdleFigure = {
    kind: 'idle',
    id,
    label,
    sessions,
    servers,
    ...(floor ? { floor } : {}),
    rssPerConn: NaN,
    heapPerConn: NaN,
    connectPerSec: NaN,
    rssBefore: NaN,
    rssAfter: NaN,
    rssPerConnGc: NaN,
    heapPerConnGc: NaN,
    problems: [],
  };
  ctx.figures.push(f);
  return f;
}

export async function idle(ctx: BenchContext, floorOnly = false): Promise<void> {
  const n = ctx.args.idleSessions;
  const processes = ctx.args.idleServers ?? Math.ceil(n / PER_PROCESS);
  await withCleanup(async (defer) => {
    const floors = await startFloors(ctx, 's5f', 'ws-floor.ts', processes);
    defer(() => floors.stop());
    await measure(
      ctx,
      figure(ctx, 'floor.idle', 'bare ws server', n, processes),
      floors.nodes,
      false,
      // Heart-beats both ways as the STOMP sessions: the floor of their cost too.
      (s) => `ws://127.0.0.1:${s.port}/idle?beat=10000`,
    );
  });
  if (floorOnly) return;
  await withCleanup(async (defer) => {
    // MAX_CONNECTIONS as by default (auto: the descriptor limit less 100), not the bench's raised one.
    const cluster = await startProduct(ctx, 's5', processes, 'cluster', {
      HEARTBEAT: '10000,10000',
      MAX_CONNECTIONS: 'auto',
    });
    defer(() => cluster.stop());
    await measure(
      ctx,
      figure(ctx, 'idle', 'S5 idle STOMP sessions', n, processes, 'floor.idle'),
      cluster.nodes,
      true,
      (s) => `ws://127.0.0.1:${s.port}/ws`,
    );
  });
}
