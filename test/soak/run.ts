/**
 * `npm run soak -- --minutes N [--seed S]`: the high-availability layout (a RabbitMQ cluster of
 * three, Redis with Sentinel; its own processes, ports and directories, never the machine's
 * engines) under three relay nodes behind a balancer, a steady stream of numbered user messages
 * (three senders to three recipients, the recipients on the resume helper), and a seeded random
 * schedule of faults, one at a time, each repaired before the next: a RabbitMQ member or the Redis
 * primary killed (and started again), a relay node killed or drained (and started again on its
 * port), a relay node's links to RabbitMQ cut for a few seconds, or a member, the primary and a
 * relay node killed at once. The first relay node is the witness: never killed or drained (its
 * links are cut like the others'), so its memory is watched over the whole run. Prints the seed,
 * the schedule, the counts and the relay nodes' RSS each minute; exits 1 when an accepted message
 * was lost or came twice, or the RSS of a node that ran the whole time grew (runs of 15 minutes or
 * more).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startBalancer, type Balancer } from '../helpers/balancer.js';
import { spawnNode, uniqueUsers, type Spawned } from '../helpers/cluster.js';
import { canRunRabbitCluster, freePort, startRabbitCluster, startRedisSentinel } from '../helpers/ha-engines.js';
import { uniquePrefix } from '../helpers/services.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { delay } from '../helpers/wait.js';
import { CarefulSender, Ledger, Recipient, SUB_DEST, stopAll } from '../faults/support.js';
import { mulberry32, pickFault, type FaultKind } from './schedule.js';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '2' }, seed: { type: 'string' }, help: { type: 'boolean' } },
});
if (values.help) {
  console.log('usage: npm run soak -- [--minutes N (default 2)] [--seed S (default: random, printed)]');
  process.exit(0);
}
const minutes = Number(values.minutes);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60 || !Number.isSafeInteger(seed)) {
  console.error('soak: --minutes must be a number in (0, 1440] and --seed an integer');
  process.exit(2);
}
if (!canRunRabbitCluster()) {
  console.error('soak: needs the rabbitmq-server package scripts (/usr/lib/rabbitmq/bin) and redis-server');
  process.exit(2);
}

const random = mulberry32(seed);
const label = `soak-${process.pid}`;
const started = Date.now();
const stamp = (): string => `[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s]`;
const say = (line: string): void => console.log(`${stamp()} ${line}`);
const cleanups: (() => Promise<unknown>)[] = [];
/** What the run counts, for a report when it stops early. */
const watched: { ledger?: Ledger; recipients?: readonly Recipient[] } = {};
let exitCode = 0;

/** A relay node slot: its port (fixed, behind the balancer), its RabbitMQ proxies, its running process. */
interface Slot {
  readonly nodeId: string;
  readonly port: number;
  readonly env: Record<string, string>;
  readonly logFile: string;
  readonly proxies: readonly TcpProxy[];
  proc: Spawned;
  /** RSS (KiB) at each minute mark; undefined where the process was new that minute. */
  readonly rss: (number | undefined)[];
  restartedAt: number;
}

async function main(): Promise<void> {
  say(`seed ${seed}, ${minutes} min; starting a 3-member RabbitMQ cluster and Redis with Sentinel (~30 s)`);
  const [rabbit, redis] = await Promise.all([startRabbitCluster(label), startRedisSentinel(label)]);
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'stomp-relay-soak-'));
  cleanups.push(
    () => rabbit.stop(logDir),
    () => redis.stop(),
  );
  const keyPrefix = uniquePrefix('soak');
  say(`relay node logs (and the RabbitMQ members' logs, at the end): ${logDir}`);
  const slots: Slot[] = [];
  for (let i = 1; i <= 3; i++) {
    const proxies = await Promise.all(rabbit.members.map((m) => startTcpProxy(m.url)));
    cleanups.push(() => Promise.all(proxies.map((p) => p.close())));
    const nodeId = `${label}-n${i}`;
    const port = await freePort();
    const env = {
      PATH: process.env.PATH ?? '',
      ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
      HOST: '127.0.0.1',
      PORT: String(port),
      NODE_ID: nodeId,
      KEY_PREFIX: keyPrefix,
      AMQP_URL: rabbit.members.map((m, k) => proxies[k]!.url(m.url)).join(','),
      REDIS_SENTINELS: redis.sentinels,
      REDIS_SENTINEL_NAME: redis.name,
      REDIS_WAIT_REPLICAS: '1', // history appends on the replica before acceptance: a failover cannot roll offsets back
      HISTORY_DESTINATIONS: SUB_DEST,
      NODE_TTL_MS: '5000',
      DRAIN_TIMEOUT_MS: '5000',
      LOG_LEVEL: 'info', // spawnNode reads the "listening" and "ready" lines
    };
    const logFile = path.join(logDir, `${nodeId}.log`);
    slots.push({
      nodeId,
      port,
      env,
      logFile,
      proxies,
      proc: spawnNode(nodeId, env, 60_000, logFile),
      rss: [],
      restartedAt: Date.now(),
    });
  }
  cleanups.push(() => Promise.all(slots.map((s) => stopNode(s.proc, 'SIGTERM'))));
  await Promise.all(slots.map((s) => s.proc.ready));
  const balancer: Balancer = await startBalancer(slots.map((s) => s.port));
  cleanups.push(() => balancer.close());
  say(`relay nodes ${slots.map((s) => `${s.nodeId} :${s.port}`).join(', ')} behind 127.0.0.1:${balancer.port}`);

  const ledger = new Ledger('soak');
  watched.ledger = ledger;
  const [R1, R2, R3, S1, S2, S3] = uniqueUsers('R1', 'R2', 'R3', 'S1', 'S2', 'S3');
  const url = balancer.url();
  const recipients = [R1, R2, R3].map((u) => new Recipient(u, url, ledger, { reconnectDelayMs: 200, resume: true }));
  watched.recipients = recipients;
  const senders = [S1, S2, S3].map((u) => new CarefulSender(u, url, ledger, 40, 200));
  const clients = [...recipients, ...senders];
  cleanups.push(() => stopAll(clients));
  for (const c of clients) {
    c.start();
    await c.waitReady(30_000);
  }
  const everyMs = 30;
  const runMs = minutes * 60_000;
  const perRecipient = Math.max(1, Math.floor(runMs / everyMs / 3));
  const end = Date.now() + runMs;
  const streams = senders.map((s) => s.stream([R1, R2, R3], perRecipient, everyMs, end + 120_000));
  say(`streaming: 3 senders × 3 recipients, one message every ${everyMs} ms per sender`);

  const memory = setInterval(() => {
    for (const s of slots) s.rss.push(Date.now() - s.restartedAt >= 60_000 ? rssKiB(s.proc) : undefined);
    const t = ledger.totals();
    say(`minute ${slots[0]!.rss.length}: accepted ${t.accepted}, received ${t.received}, not yet received ${t.lost}`);
  }, 60_000);
  cleanups.push(async () => clearInterval(memory));

  const schedule: string[] = [];
  await delay(Math.min(15_000, runMs / 4));
  while (Date.now() < end - 25_000) {
    const at = stamp();
    const line = await inject(pickFault(random), slots, rabbit, redis);
    schedule.push(`${at} ${line}`);
    console.log(`${at} ${line}`);
    const pause = 8_000 + Math.floor(random() * 12_000);
    await delay(Math.min(pause, Math.max(0, end - 25_000 - Date.now())));
  }
  await Promise.all(streams);
  await Promise.all(senders.map((s) => s.allAccepted(120_000)));
  await ledger.settle(60_000);

  const t = ledger.totals();
  const resumesLost = recipients.reduce((n, r) => n + r.notRecovered, 0);
  console.log('\nsoak schedule (seed %d):\n  %s', seed, schedule.join('\n  ') || '(no fault: the run was too short)');
  console.log(
    `\nsoak: sent=${t.sent} accepted=${t.accepted} received=${t.received} lost=${t.lost} duplicates=${t.duplicates} ` +
      `reordered=${t.reordered} longestPauseMs=${ledger.longestPauseMs} resumesNotRecovered=${resumesLost}`,
  );
  for (const s of slots)
    console.log(
      `  ${s.nodeId} RSS MiB by minute: ${s.rss.map((k) => (k === undefined ? '—' : (k / 1024).toFixed(0))).join(' ')}`,
    );
  const { judged, grew } = rssGrew(slots);
  if (minutes >= 15) {
    console.log(`  RSS judged (last 5 minutes ≤ 1.1 × minutes 5–10) on: ${judged.join(', ') || 'none'}`);
    for (const g of grew) console.log(`  RSS grew: ${g}`);
    if (judged.length === 0) grew.push('no relay node ran the whole soak');
  } else grew.length = 0;
  if (t.lost > 0 || t.duplicates > 0 || t.accepted < t.sent || grew.length > 0) {
    if (t.lost > 0) {
      console.log(ledger.describeLost());
      for (const line of ledger.describeLostRanges()) console.log(`  lost ${line}`);
      for (const r of recipients) console.log(`  ${r.user}: ${r.state()}`);
    }
    exitCode = 1;
  }
  console.log(exitCode === 0 ? 'soak: PASS' : 'soak: FAIL');
}

/** One fault, and its repair; returns what happened, for the schedule. */
async function inject(
  kind: FaultKind,
  slots: Slot[],
  rabbit: Awaited<ReturnType<typeof startRabbitCluster>>,
  redis: Awaited<ReturnType<typeof startRedisSentinel>>,
): Promise<string> {
  // The witness (the first slot) is never stopped: one process runs the whole soak for the RSS check.
  const victims = kind === 'amqp-cut' ? slots : slots.slice(1);
  const slot = victims[Math.floor(random() * victims.length)]!;
  switch (kind) {
    case 'rabbit-member': {
      const member = rabbit.members[Math.floor(random() * rabbit.members.length)]!;
      await member.kill();
      await delay(5_000);
      await member.restart();
      return `RabbitMQ member ${member.name} killed (-9), started again after 5 s`;
    }
    case 'redis-primary': {
      const port = await redis.killPrimary();
      await redis.restartAsReplica(port);
      return `Redis primary :${port} killed (-9), Sentinel promoted the replica, the old primary rejoined as replica`;
    }
    case 'node-kill':
    case 'node-drain': {
      const signal = kind === 'node-kill' ? 'SIGKILL' : 'SIGTERM';
      await stopNode(slot.proc, signal);
      await delay(2_000);
      slot.proc = spawnNode(slot.nodeId, slot.env, 60_000, slot.logFile);
      slot.restartedAt = Date.now();
      await slot.proc.ready;
      return `relay node ${slot.nodeId} ${kind === 'node-kill' ? 'killed (-9)' : 'drained (SIGTERM)'}, started again after 2 s`;
    }
    case 'all-at-once': {
      const member = rabbit.members[Math.floor(random() * rabbit.members.length)]!;
      const [, port] = await Promise.all([member.kill(), redis.killPrimary(), stopNode(slot.proc, 'SIGKILL')]);
      await delay(5_000);
      slot.proc = spawnNode(slot.nodeId, slot.env, 60_000, slot.logFile);
      slot.restartedAt = Date.now();
      await Promise.all([member.restart(), redis.restartAsReplica(port), slot.proc.ready]);
      return `RabbitMQ member ${member.name}, Redis primary :${port} and relay node ${slot.nodeId} killed (-9) at once, all started again after 5 s`;
    }
    case 'amqp-cut': {
      for (const p of slot.proxies) p.cut();
      await delay(3_000);
      for (const p of slot.proxies) p.restore();
      return `relay node ${slot.nodeId}: every RabbitMQ link cut for 3 s`;
    }
  }
}

async function stopNode(proc: Spawned, signal: NodeJS.Signals): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  await proc.exited;
}

function rssKiB(proc: Spawned): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The target: the lowest RSS of the last 5 minutes ≤ 1.1 × the highest of minutes 5–10, judged on
 * the nodes that ran the whole time (a restarted one is a different process).
 */
function rssGrew(slots: readonly Slot[]): { judged: string[]; grew: string[] } {
  const judged: string[] = [];
  const grew: string[] = [];
  for (const s of slots) {
    const base = s.rss.slice(4, 10);
    const last = s.rss.slice(-5);
    if (s.restartedAt > started + 60_000 || base.length < 6 || [...base, ...last].includes(undefined)) continue;
    judged.push(s.nodeId);
    const before = Math.max(...(base as number[]));
    const after = Math.min(...(last as number[]));
    if (after > before * 1.1)
      grew.push(`${s.nodeId}: ${(after / 1024).toFixed(0)} MiB > 1.1 × ${(before / 1024).toFixed(0)}`);
  }
  return { judged, grew };
}

let stopping = false;
async function cleanup(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Last set up, first stopped: clients, then relay nodes (they drain), then the engines.
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    exitCode = 130;
    // Already stopping (a failure): that cleanup ends with process.exit; exiting now would leave engines running.
    if (!stopping) void cleanup().then(() => process.exit(exitCode));
  });

try {
  await main();
} catch (err) {
  console.error(`soak: ${err instanceof Error ? err.message : String(err)}`);
  // Stopped early: what was missing by then, to start from.
  const { ledger, recipients } = watched;
  if (ledger && ledger.totals().lost > 0) {
    console.log(ledger.describeLost(100));
    for (const line of ledger.describeLostRanges()) console.log(`  lost ${line}`);
  }
  for (const r of recipients ?? []) console.log(`  ${r.user}: ${r.state()}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
