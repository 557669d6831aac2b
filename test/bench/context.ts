/** What every scenario shares: the run's namespace, starting product nodes and floors, measuring and reporting runs. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BenchArgs } from './args.js';
import { cpuMeter, Recorder, runFixedRate, runMaxThroughput, sleep, type CpuSample, type Pipe } from './load.js';
import {
  deleteRabbitNames,
  deleteRedisKeys,
  floorArgs,
  productArgs,
  REPO_ROOT,
  spawnChild,
  sumCpu,
  type BenchChild,
} from './processes.js';
import type { Figure, MsgFigure } from './report.js';

/**
 * Limits raised for the bench's product nodes (defaults in README "Configuration"): a throughput sender exceeds
 * 2,000 frames/s per session, and a max-throughput receiver may hold more than 1 MiB unsent.
 */
export const PRODUCT_BENCH_ENV: Readonly<Record<string, string>> = {
  MAX_FRAMES_PER_SECOND: '10000000',
  MAX_OUTBOUND_BYTES: String(256 * 1024 * 1024),
  MAX_CONNECTIONS: '100000',
};

export interface BenchContext {
  readonly args: BenchArgs;
  /** `bench-<pid>-<hex>`: every Redis key, RabbitMQ name and node id of this run starts with it. */
  readonly runId: string;
  readonly infraPids: readonly number[];
  /** RabbitMQ's beam.smp alone (also in infraPids). */
  readonly rabbitPids: readonly number[];
  readonly figures: Figure[];
  readonly profileDir: string | undefined;
  /** Lines for the report's header (e.g. RabbitMQ's CPU while the bench was idle). */
  readonly notes: string[];
  progress(line: string): void;
}

/** Stop-and-delete actions of the clusters and floors now running: an interrupted bench runs them. */
const running = new Set<() => Promise<void>>();

/** Stops every node and floor still running and deletes their Redis keys and RabbitMQ names. */
export async function stopEverything(): Promise<void> {
  await Promise.allSettled([...running].map((f) => f()));
}

function tracked(cleanup: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = () => (done ??= cleanup().finally(() => running.delete(once)));
  running.add(once);
  return once;
}

/** Runs `body` with a `defer` for cleanups, which run in reverse order even when it throws. */
export async function withCleanup<T>(
  body: (defer: (f: () => Promise<unknown> | void) => void) => Promise<T>,
): Promise<T> {
  const stack: (() => Promise<unknown> | void)[] = [];
  try {
    return await body((f) => stack.push(f));
  } finally {
    for (const f of stack.reverse()) {
      try {
        await f();
      } catch (err) {
        process.stderr.write(`bench: cleanup failed: ${String(err)}\n`);
      }
    }
  }
}

export interface ProductCluster {
  readonly nodes: readonly BenchChild[];
  readonly nodeIds: readonly string[];
  readonly keyPrefix: string | undefined;
  wsUrl(i: number): string;
  /** `http://127.0.0.1:{port}` of node `i` (its /metrics). */
  httpUrl(i: number): string;
  /** SIGTERM (drain), then deletes the run's Redis keys and RabbitMQ names. */
  stop(): Promise<void>;
}

/** `count` product nodes (`node dist/server/main.js`), in cluster mode on Redis and RabbitMQ unless `embedded`. */
export async function startProduct(
  ctx: BenchContext,
  label: string,
  count: number,
  mode: 'embedded' | 'cluster',
  extraEnv: Record<string, string> = {},
): Promise<ProductCluster> {
  const keyPrefix = mode === 'cluster' ? `${ctx.runId}-${label}:` : undefined;
  const amqpPrefix = keyPrefix ? `${keyPrefix.slice(0, -1)}.` : undefined;
  const nodeIds = Array.from({ length: count }, (_, i) => `${ctx.runId}-${label}-n${i + 1}`);
  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ...PRODUCT_BENCH_ENV,
    ...(keyPrefix ? { REDIS_URL: ctx.args.redisUrl, AMQP_URL: ctx.args.amqpUrl, KEY_PREFIX: keyPrefix } : {}),
    ...extraEnv,
  };
  if (ctx.profileDir) mkdirSync(ctx.profileDir, { recursive: true });
  const started = await Promise.allSettled(
    nodeIds.map((id) =>
      spawnChild({
        name: id,
        args: productArgs({
          tsx: ctx.args.tsx,
          ...(ctx.profileDir ? { profileDir: ctx.profileDir, profileName: `${label}-${id.slice(-2)}.cpuprofile` } : {}),
        }),
        env: { ...env, NODE_ID: id },
      }),
    ),
  );
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const cleanup = tracked(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    if (keyPrefix && amqpPrefix) {
      await deleteRedisKeys(ctx.args.redisUrl, keyPrefix);
      await deleteRabbitNames(ctx.args.amqpUrl, amqpPrefix, nodeIds);
    }
  });
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await cleanup();
    throw failed.reason;
  }
  return {
    nodes,
    nodeIds,
    keyPrefix,
    wsUrl: (i) => `ws://127.0.0.1:${nodes[i]!.port}/ws`,
    httpUrl: (i) => `http://127.0.0.1:${nodes[i]!.port}`,
    stop: cleanup,
  };
}

export interface FloorGroup {
  readonly nodes: readonly BenchChild[];
  readonly nodeIds: readonly string[];
  stop(): Promise<void>;
}

export interface FloorOptions {
  /** More environment for the processes (e.g. the relay floor's DURABILITY). */
  readonly env?: Record<string, string>;
  /** Redis keys under this prefix are deleted after the processes stopped (the Socket.IO peer's). */
  readonly redisKeyPrefix?: string;
}

/** `count` floor (or peer) processes running `script` (test/bench/floors/); relay floors get their own RabbitMQ names. */
export async function startFloors(
  ctx: BenchContext,
  label: string,
  script: string,
  count: number,
  opts: FloorOptions = {},
): Promise<FloorGroup> {
  const amqpPrefix = `${ctx.runId}-${label}.`;
  const nodeIds = Array.from({ length: count }, (_, i) => `${ctx.runId}-${label}-f${i + 1}`);
  const relay = script.startsWith('relay');
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    AMQP_URL: ctx.args.amqpUrl,
    AMQP_PREFIX: amqpPrefix,
    REDIS_URL: ctx.args.redisUrl,
    ...opts.env,
  };
  const started = await Promise.allSettled(
    nodeIds.map((id) =>
      spawnChild({
        name: id,
        args: [...profileFlags(ctx, `${label}-${id.slice(-2)}`), ...floorArgs(script, ctx.args.tsx)],
        env: { ...env, NODE_ID: id },
      }),
    ),
  );
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const cleanup = tracked(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    if (relay) await deleteRabbitNames(ctx.args.amqpUrl, amqpPrefix, nodeIds);
    if (opts.redisKeyPrefix) await deleteRedisKeys(ctx.args.redisUrl, opts.redisKeyPrefix);
  });
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await cleanup();
    throw failed.reason;
  }
  return { nodes, nodeIds, stop: cleanup };
}

/** With --profile, floors are profiled too: their hot spots are the baseline of the product's. */
function profileFlags(ctx: BenchContext, name: string): string[] {
  if (!ctx.profileDir) return [];
  mkdirSync(ctx.profileDir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`, `--cpu-prof-name=${name}.cpuprofile`];
}

export function msgFigure(ctx: BenchContext, id: string, label: string, size: number, floor?: string): MsgFigure {
  const f: MsgFigure = { kind: 'msg', id, label, size, ...(floor ? { floor } : {}), fixed: [], max: [], problems: [] };
  ctx.figures.push(f);
  return f;
}

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : '—');
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const perMsg = (cpu: CpuSample, n: number) =>
  (cpu.serverUs > 0
    ? `${(cpu.serverUs / n).toFixed(1)} µs/msg, ${(cpu.serverWrites / n).toFixed(2)} writes/msg`
    : `client ${(cpu.clientUs / n).toFixed(1)} µs/msg`) +
  `, RabbitMQ ${(cpu.rabbitUs / n).toFixed(1)} µs/msg, clients ${clientCore(cpu)} % of a core`;
/** The bench process's CPU (the clients) as a share of one core: near 100, the clients are the cap. */
const clientCore = (cpu: CpuSample) => (cpu.wallMs > 0 ? Math.round(cpu.clientUs / (cpu.wallMs * 10)) : NaN);

/**
 * Sends message 0 every 200 ms until one arrives (bounded): a path whose subscriptions are still
 * on their way (Redis pub/sub, a SUBSCRIBE without receipt) would lose the first messages.
 */
export async function awaitPath(pipe: Pipe & { size: number }, what: string, timeoutMs = 10_000): Promise<void> {
  const rec = new Recorder(1);
  pipe.recorder = rec;
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    pipe.send(0);
    if (await rec.until(1, 200)) return;
  }
  throw new Error(`${what}: no message went through within ${timeoutMs} ms: ${pipe.problems().slice(0, 3).join('; ')}`);
}

/** RabbitMQ's CPU while this bench sends nothing, as a share of one core: other users of the broker. */
export async function rabbitIdleShare(ctx: BenchContext, ms = 1000): Promise<number> {
  const c0 = sumCpu(ctx.rabbitPids),
    t0 = performance.now();
  await sleep(ms);
  return (sumCpu(ctx.rabbitPids) - c0) / ((performance.now() - t0) * 1000);
}

/** A short unmeasured pass so both sides are JIT-compiled and connections are warm. */
export async function warmUp(ctx: BenchContext, pipe: Pipe & { size: number }, size: number): Promise<void> {
  pipe.size = size;
  await runMaxThroughput(
    pipe,
    { count: Math.min(ctx.args.maxCount(size), 8000), timeLimitMs: 1500, window: ctx.args.window(size) },
    () => () => ({ serverUs: 0, infraUs: 0, rabbitUs: 0, clientUs: 0, wallMs: 0, serverReads: 0, serverWrites: 0 }),
  );
  await sleep(200);
}

/** One fixed-rate run and one max-throughput run of `pipe`, appended to `fig`. */
/**
 * One fixed-rate and one max-throughput run of `pipe`. `nodeUrls`: the product nodes' HTTP roots,
 * whose `stomp_relay_batch_size` gives the mean batch of the node hop in each run.
 */
export async function measureMsg(
  ctx: BenchContext,
  fig: MsgFigure,
  pipe: Pipe & { size: number },
  serverPids: readonly number[],
  run: number,
  nodeUrls: readonly string[] = [],
): Promise<void> {
  const { args } = ctx;
  pipe.size = fig.size;
  const meter = () => cpuMeter(serverPids, ctx.infraPids, ctx.rabbitPids);
  const b0 = await batchTotals(nodeUrls);
  const fixed = await runFixedRate(
    pipe,
    { rate: args.rate, durationMs: args.durationMs, maxInFlight: args.maxInFlight },
    meter,
  );
  await sleep(300);
  const b1 = await batchTotals(nodeUrls);
  const max = await runMaxThroughput(
    pipe,
    { count: args.maxCount(fig.size), timeLimitMs: args.maxTimeMs, window: args.window(fig.size) },
    meter,
  );
  await sleep(300);
  const b2 = await batchTotals(nodeUrls);
  const batches = nodeUrls.length > 0 ? `, batch ${meanBatch(b0, b1)} fixed / ${meanBatch(b1, b2)} max` : '';
  fig.fixed.push(fixed);
  fig.max.push(max);
  for (const p of pipe.problems()) if (!fig.problems.includes(p)) fig.problems.push(p);
  const sat = fixed.saturated
    ? ` SATURATED (${int(fixed.delivered)}/${int(fixed.sent)} delivered, ${int(fixed.skipped)} skipped)`
    : '';
  ctx.progress(
    `  ${fig.label} ${fig.size} B run ${run + 1}/${args.runs}: ${int(fixed.achievedRate)}/s p50 ${ms(fixed.latency.p50)} p99 ${ms(fixed.latency.p99)} p999 ${ms(fixed.latency.p999)} ms, ${perMsg(fixed.cpu, fixed.delivered)}${sat}` +
      ` | max ${int(max.rate)} msg/s${max.stalled ? ' STALLED' : ''}, ${perMsg(max.cpu, max.completed)}${batches}${fig.problems.length > 0 ? ` ⚠ ${fig.problems[0]}` : ''}`,
  );
}

/** Sum and count of `stomp_relay_batch_size` over the nodes (relay messages, AMQP messages published). */
async function batchTotals(urls: readonly string[]): Promise<{ sum: number; count: number }> {
  let sum = 0;
  let count = 0;
  for (const url of urls) {
    const text = await fetch(`${url}/metrics`).then(
      (r) => r.text(),
      () => '',
    );
    sum += Number(/^stomp_relay_batch_size_sum (\S+)$/m.exec(text)?.[1] ?? 0);
    count += Number(/^stomp_relay_batch_size_count (\S+)$/m.exec(text)?.[1] ?? 0);
  }
  return { sum, count };
}

function meanBatch(a: { sum: number; count: number }, b: { sum: number; count: number }): string {
  const n = b.count - a.count;
  return n > 0 ? ((b.sum - a.sum) / n).toFixed(1) : '–';
}

export function profileDirFor(runId: string): string {
  return path.join(REPO_ROOT, 'test-artifacts', 'bench-profiles', runId);
}
