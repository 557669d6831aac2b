import { appendFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { StompSubscription } from '@stomp/stompjs';
import { Redis } from 'ioredis';
import { deleteRabbitNames, deleteRedisKeys } from './cleanup.js';
import { TEST_AMQP_URL, TEST_REDIS_URL, uniquePrefix } from './services.js';
import { connectClient, type TestClient } from './stomp-client.js';
import { deferred } from './wait.js';

/** The repository root: children run `server/main.ts` from here, as `npm start` would. */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Output lines kept per node, printed when a test fails. */
const KEPT_LINES = Number(process.env.CLUSTER_KEPT_LINES ?? 200);
/** Lines per node printed for a failed test: enough to see what happened, never a flood. */
const PRINTED_LINES = 40;
const MAX_LINE_CHARS = 600;

/** One sample of the Prometheus text format: `name{label="value",…} value`. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A node's /metrics at one moment. */
export class MetricsSnapshot {
  constructor(readonly samples: readonly MetricSample[]) {}

  /** The sum of the samples called `name` whose labels include every pair in `labels`; 0 when none. */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number {
    let sum = 0;
    for (const s of this.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
    return sum;
  }
}

/** Parses the Prometheus text exposition format (comments and `# TYPE` lines skipped). */
export function parseMetrics(text: string): MetricsSnapshot {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    const labelRe = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const l of (m[2] ?? '').matchAll(labelRe)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return new MetricsSnapshot(samples);
}

/** One `server/main.ts` child process of a test cluster. */
export interface ClusterNode {
  readonly nodeId: string;
  readonly port: number;
  /** The STOMP endpoint, `ws://127.0.0.1:{port}/ws`. */
  readonly url: string;
  /** `http://127.0.0.1:{port}`. */
  readonly http: string;
  readonly process: ChildProcess;
  /** The environment it was started with (to start the node id again: `spawnNode`). */
  readonly env: Readonly<Record<string, string>>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** GET /metrics, parsed. */
  metrics(): Promise<MetricsSnapshot>;
  /** Sends `signal` (default SIGTERM) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines the process wrote (stdout and stderr), oldest first. */
  logs(): readonly string[];
}

export interface Cluster {
  /** KEY_PREFIX of every node: every Redis key of this cluster starts with it. */
  readonly keyPrefix: string;
  /** The RabbitMQ name prefix the nodes derive from KEY_PREFIX (`…:` → `….`). */
  readonly amqpPrefix: string;
  readonly nodes: readonly ClusterNode[];
  /** A connection to the cluster's Redis, for the tests' own reads; closed by `stop()`. */
  readonly redis: Redis;
  /** A STOMP client (real @stomp/stompjs over ws) on `node`, disconnected by `disconnectClients()`/`stop()`. */
  connect(node: ClusterNode, login: string): Promise<TestClient>;
  /** Disconnects every client `connect` made so far (call it in `afterEach`). */
  disconnectClients(): Promise<void>;
  /** In `afterEach`: prints the nodes' last lines when the test just run failed. */
  printLogsIfFailed(ctx: Mocha.Context): void;
  /** One line per live node: what it published to, consumed from, and delivered (from /metrics). */
  relayReport(): Promise<string>;
  /**
   * Stops the nodes (SIGTERM, then SIGKILL after `graceMs`), then deletes every Redis key under
   * the prefix (SCAN, never a flush) and the RabbitMQ queues and exchanges of this cluster.
   */
  stop(graceMs?: number): Promise<void>;
}

/** Children still running; killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

let userSeq = 0;

/** User ids no other test of this run uses (`A-7`), so tests sharing a cluster never see each other's sessions. */
export function uniqueUsers<const N extends readonly string[]>(...names: N): { [K in keyof N]: string } {
  userSeq++;
  return names.map((n) => `${n}-${userSeq}`) as { [K in keyof N]: string };
}

let receiptSeq = 0;

/** UNSUBSCRIBE with a receipt; resolves once the node confirmed it (registry and bindings updated). */
export async function unsubscribeWithReceipt(
  client: TestClient,
  sub: StompSubscription,
  timeoutMs = 5000,
): Promise<void> {
  const id = `unsub-${sub.id}-${++receiptSeq}`;
  const receipt = deferred<void>();
  const timer = setTimeout(
    () => receipt.reject(new Error(`no RECEIPT for UNSUBSCRIBE ${sub.id} within ${timeoutMs} ms`)),
    timeoutMs,
  );
  client.client.watchForReceipt(id, () => receipt.resolve());
  sub.unsubscribe({ receipt: id });
  try {
    await receipt.promise;
  } finally {
    clearTimeout(timer);
  }
}

/** A node process of its own, as startCluster starts each (the soak restarts nodes with it). */
export interface Spawned {
  readonly nodeId: string;
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly ready: Promise<number>;
}

/**
 * Starts `node --import tsx server/main.ts` with exactly `env`; `ready` resolves with its port once
 * it says "ready". `logFile`: every line also goes there (appended), not only the last few kept.
 */
export function spawnNode(
  nodeId: string,
  env: Record<string, string>,
  startTimeoutMs: number,
  logFile?: string,
): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const lines: string[] = [];
  const keep = (stream: string, line: string) => {
    if (logFile) appendFileSync(logFile, `${new Date().toISOString()} [${nodeId} ${stream}] ${line}\n`);
    lines.push(`[${nodeId} ${stream}] ${line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line}`);
    if (lines.length > KEPT_LINES) lines.shift();
  };
  const exit = deferred<{ code: number | null; signal: NodeJS.Signals | null }>();
  child.once('exit', (code, signal) => {
    live.delete(child);
    exit.resolve({ code, signal });
  });
  child.once('error', (err) => {
    live.delete(child);
    keep('spawn', String(err));
    exit.resolve({ code: null, signal: null });
  });

  const ready = deferred<number>();
  let port: number | undefined;
  const fail = (why: string) =>
    ready.reject(new Error(`node ${nodeId} ${why}\n${lines.slice(-PRINTED_LINES).join('\n')}`));
  const timer = setTimeout(() => fail(`was not ready within ${startTimeoutMs} ms`), startTimeoutMs);
  void ready.promise.catch(() => undefined).finally(() => clearTimeout(timer));
  void exit.promise.then(({ code, signal }) => fail(`exited (code ${code}, signal ${signal}) before it was ready`));

  createInterface({ input: child.stdout }).on('line', (line) => {
    keep('out', line);
    if (line[0] !== '{') return;
    let entry: { msg?: unknown; port?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      return;
    }
    if (typeof entry.msg !== 'string') return;
    if (entry.msg.startsWith('stomp-relay listening') && typeof entry.port === 'number') port = entry.port;
    // main.ts logs "ready" after "listening", once Redis and RabbitMQ are usable.
    if (entry.msg === 'ready') {
      if (port === undefined) fail('said "ready" without a port');
      else ready.resolve(port);
    }
  });
  createInterface({ input: child.stderr }).on('line', (line) => keep('err', line));
  return { nodeId, child, lines, exited: exit.promise, ready: ready.promise };
}

async function killWithin(s: Spawned, graceMs: number): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    s.exited.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    s.child.kill('SIGKILL');
    await s.exited;
  }
}

/** What a test may vary per node (fault tests: each node reaches Redis or RabbitMQ through its own proxy). */
export interface ClusterOptions {
  /**
   * Extra environment of node `index` (0-based), applied over `env`; KEY_PREFIX and NODE_ID stay
   * the cluster's. E.g. `(i) => ({ AMQP_URL: proxies[i].url(TEST_AMQP_URL) })`.
   */
  readonly nodeEnv?: (index: number, nodeId: string) => Record<string, string>;
}

/**
 * Starts `n` real node processes (`node --import tsx server/main.ts`) as one cluster on the
 * test Redis and RabbitMQ, on loopback with PORT=0, one KEY_PREFIX for the cluster, and waits
 * until each says "ready". `env` adds to or overrides the nodes' environment; `options.nodeEnv`
 * does so per node.
 */
export async function startCluster(
  n: number,
  env: Record<string, string> = {},
  startTimeoutMs = 30_000,
  options: ClusterOptions = {},
): Promise<Cluster> {
  const keyPrefix = env.KEY_PREFIX ?? uniquePrefix('cluster');
  const amqpPrefix = keyPrefix.endsWith(':') ? `${keyPrefix.slice(0, -1)}.` : keyPrefix;
  const idBase = keyPrefix.replace(/[^A-Za-z0-9._-]/g, '');
  const nodeIds = Array.from({ length: n }, (_, i) => `${idBase}-n${i + 1}`);
  const base: Record<string, string> = {
    // Only what a node needs: nothing from the developer's shell (PORT, API_TOKEN, …) leaks in.
    PATH: process.env.PATH ?? '',
    ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: TEST_REDIS_URL,
    AMQP_URL: TEST_AMQP_URL,
    LOG_LEVEL: 'info',
    NODE_TTL_MS: '3000',
    DRAIN_TIMEOUT_MS: '2000',
    ...env,
    KEY_PREFIX: keyPrefix,
  };
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const envs = nodeIds.map((id, i) => ({ ...base, ...options.nodeEnv?.(i, id), KEY_PREFIX: keyPrefix, NODE_ID: id }));
  const spawned = nodeIds.map((id, i) => spawnNode(id, envs[i]!, startTimeoutMs));
  const clients: TestClient[] = [];
  let stopped: Promise<void> | undefined;

  const stop = (graceMs = 5000) =>
    (stopped ??= (async () => {
      await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => undefined)));
      await Promise.all(spawned.map((s) => killWithin(s, graceMs)));
      try {
        await deleteRedisKeys(redis, keyPrefix);
        await deleteRabbitNames(TEST_AMQP_URL, amqpPrefix, nodeIds);
      } finally {
        await redis.quit().catch(() => redis.disconnect());
      }
    })());

  let ports: number[];
  try {
    ports = await Promise.all(spawned.map((s) => s.ready));
  } catch (err) {
    await stop(1000);
    throw err;
  }

  const nodes: ClusterNode[] = spawned.map((s, i) => {
    const port = ports[i]!;
    const http = `http://127.0.0.1:${port}`;
    return {
      nodeId: s.nodeId,
      port,
      url: `ws://127.0.0.1:${port}/ws`,
      http,
      process: s.child,
      env: envs[i]!,
      exited: s.exited,
      metrics: async () => {
        const res = await fetch(`${http}/metrics`);
        if (!res.ok) throw new Error(`GET /metrics on ${s.nodeId}: ${res.status}`);
        return parseMetrics(await res.text());
      },
      kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
        if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill(signal);
        return s.exited;
      },
      logs: () => s.lines,
    };
  });

  return {
    keyPrefix,
    amqpPrefix,
    nodes,
    redis,
    connect: async (node, login) => {
      const c = await connectClient(node.url, { login });
      clients.push(c);
      return c;
    },
    disconnectClients: async () => {
      await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    },
    printLogsIfFailed: (ctx) => {
      if (ctx.currentTest?.state !== 'failed') return;
      const out = spawned.map((s) => s.lines.slice(-PRINTED_LINES).join('\n'));
      console.error(
        `\n  --- last ${PRINTED_LINES} lines of each node (${ctx.currentTest.fullTitle()}) ---\n${out.join('\n')}\n`,
      );
    },
    relayReport: async () => {
      // n1, n2, … for the cluster's own node ids, so the lines stay readable.
      const short = (id: string | undefined) => {
        const i = nodeIds.indexOf(id ?? '');
        return i >= 0 ? `n${i + 1}` : String(id);
      };
      const lines: string[] = [];
      for (const node of nodes) {
        if (node.process.exitCode !== null || node.process.signalCode !== null) continue;
        const m = await node.metrics();
        const nonZero = (name: string) => m.samples.filter((x) => x.name === name && x.value > 0);
        const published = nonZero('stomp_relay_published_total').map((x) => `${short(x.labels.node)}:${x.value}`);
        const consumed = nonZero('stomp_relay_consumed_total').map(
          (x) => `${short(x.labels.origin)}/${x.labels.kind}:${x.value}`,
        );
        lines.push(
          `${short(node.nodeId)}  published to ${published.join(' ') || '-'}  consumed from ${consumed.join(' ') || '-'}  ` +
            `local ${m.value('stomp_local_deliveries_total')}  broadcasts ${m.value('stomp_broadcast_published_total')}  ` +
            `offline ${m.value('stomp_offline_stored_total')}  delivered ${m.value('stomp_deliveries_total')}`,
        );
      }
      return lines.join('\n');
    },
    stop,
  };
}
