/**
 * The bench's child processes (product nodes, floor servers, idle-client holders): spawning them
 * the way `npm start` runs a node, waiting for their "ready" line, reading their CPU time and RSS
 * from /proc, stopping them, and deleting what cluster-mode runs left in Redis and RabbitMQ.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { deleteRedisKeys as deleteKeysUnder } from '../helpers/cleanup.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KEPT_LINES = 100;

/** Kernel clock ticks per second: the unit of utime/stime in /proc/<pid>/stat. */
export const CLK_TCK: number = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of `pid` in microseconds (/proc/<pid>/stat utime + stime); NaN when gone. */
export function cpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces; fields after its ')' start at field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Resident set size of `pid` in bytes (VmRSS of /proc/<pid>/status); NaN when gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Pids of the RabbitMQ (beam.smp) and Redis (redis-server) serving `amqpUrl` and `redisUrl`: their
 * CPU is reported beside the nodes'. Read-only from /proc.
 */
export function infraPids(redisUrl: string, amqpUrl: string): number[] {
  return [...rabbitPids(amqpUrl), ...servicePids('redis-server', portOf(redisUrl, 6379))];
}

/** Pids of the Erlang VM of the RabbitMQ serving `amqpUrl` (not the short-lived VMs of rabbitmqctl). */
export function rabbitPids(amqpUrl: string): number[] {
  return servicePids('beam.smp', portOf(amqpUrl, 5672));
}

function portOf(url: string, fallback: number): number {
  return Number(new URL(url).port) || fallback;
}

/**
 * The processes named `comm` that hold the listening socket of `port`; every process named `comm`
 * when that cannot be told (/proc/<pid>/fd not readable).
 */
function servicePids(comm: string, port: number): number[] {
  const named = pidsNamed(comm);
  const inodes = listeningInodes(port);
  const owners = named.filter((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return inodes.has(readlinkSync(`/proc/${pid}/fd/${fd}`));
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
  return owners.length > 0 ? owners : named;
}

/** `socket:[inode]` of the sockets listening on `port` (IPv4 and IPv6). */
function listeningInodes(port: number): Set<string> {
  const out = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; field 9 is the inode.
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A' && f[9]) out.add(`socket:[${f[9]}]`);
    }
  }
  return out;
}

/** Pids whose /proc/<pid>/comm is `comm` (other users' processes included). */
function pidsNamed(comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'latin1').trim() === comm) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Read and write syscalls `pid` made so far (syscr, syscw of /proc/<pid>/io); NaN when gone. */
export function syscalls(pid: number): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'latin1');
    return {
      reads: Number(/^syscr: (\d+)/m.exec(io)?.[1] ?? NaN),
      writes: Number(/^syscw: (\d+)/m.exec(io)?.[1] ?? NaN),
    };
  } catch {
    return { reads: NaN, writes: NaN };
  }
}

export function sumSyscalls(pids: readonly number[]): { reads: number; writes: number } {
  let reads = 0,
    writes = 0;
  for (const p of pids) {
    const s = syscalls(p);
    if (Number.isFinite(s.reads)) reads += s.reads;
    if (Number.isFinite(s.writes)) writes += s.writes;
  }
  return { reads, writes };
}

export function sumCpu(pids: readonly number[]): number {
  let total = 0;
  for (const p of pids) {
    const c = cpuMicros(p);
    if (Number.isFinite(c)) total += c;
  }
  return total;
}

/** One child process that printed a JSON line with `port` (msg "...listening...") and then msg "ready". */
export interface BenchChild {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  readonly http: string;
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
  /** Last lines of its output, for failures. */
  readonly lines: readonly string[];
  /** SIGTERM (the product drains), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Children still running: killed if the bench exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface SpawnOptions {
  readonly name: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  readonly startTimeoutMs?: number;
  /** Called for each JSON line the child prints (after ready too). */
  readonly onJson?: (entry: Record<string, unknown>) => void;
  /** The child serves nothing (a client holder): "ready" alone will do. */
  readonly noPort?: boolean;
}

/** Starts `node <args>` in the repository root and resolves once it said "ready". */
export async function spawnChild(opts: SpawnOptions): Promise<BenchChild> {
  const child = spawn(process.execPath, [...opts.args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...(process.env.HOME ? { HOME: process.env.HOME } : {}), ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  const lines: string[] = [];
  const keep = (line: string) => {
    lines.push(`[${opts.name}] ${line.length > 400 ? `${line.slice(0, 400)}…` : line}`);
    if (lines.length > KEPT_LINES) lines.shift();
  };
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      live.delete(child);
      keep(String(err));
      resolve();
    });
  });
  let port: number | undefined;
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${opts.name} not ready within ${opts.startTimeoutMs ?? 30_000} ms\n${lines.join('\n')}`)),
      opts.startTimeoutMs ?? 30_000,
    );
    void exited.then(() => {
      clearTimeout(timer);
      reject(
        new Error(
          `${opts.name} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready\n${lines.join('\n')}`,
        ),
      );
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      keep(line);
      if (line[0] !== '{') return;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      opts.onJson?.(entry);
      if (typeof entry.msg !== 'string') return;
      if (entry.msg.includes('listening') && typeof entry.port === 'number') port = entry.port;
      if (entry.msg === 'ready') {
        clearTimeout(timer);
        if (port === undefined && !opts.noPort) reject(new Error(`${opts.name} said "ready" without a port`));
        else resolve(port ?? 0);
      }
    });
    createInterface({ input: child.stderr }).on('line', keep);
  });
  let boundPort: number;
  try {
    boundPort = await ready;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    name: opts.name,
    pid: child.pid!,
    port: boundPort,
    http: `http://127.0.0.1:${boundPort}`,
    process: child,
    exited,
    lines,
    stop: (graceMs = 8000) =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          child.kill('SIGKILL');
          await exited;
        }
      })()),
  };
}

/** How product nodes are started: the built JS (`npm run bench` builds first) or the sources through tsx. */
export function productArgs(opts: { tsx: boolean; profileDir?: string; profileName?: string }): string[] {
  const prof = opts.profileDir
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${opts.profileDir}`,
        ...(opts.profileName ? [`--cpu-prof-name=${opts.profileName}`] : []),
      ]
    : [];
  const built = path.join(REPO_ROOT, 'dist/server/main.js');
  if (!opts.tsx && existsSync(built)) return [...prof, built];
  return [...prof, '--import', 'tsx', path.join(REPO_ROOT, 'server/main.ts')];
}

/**
 * A floor server of test/bench/floors/: plain node on its build (`npm run bench` compiles them
 * with test/bench/tsconfig.floors.json), so it carries no loader the product does not carry
 * either; through tsx when it was not built.
 */
export function floorArgs(script: string, tsx: boolean): string[] {
  const built = path.join(REPO_ROOT, 'test-artifacts/bench-floors', script.replace(/\.ts$/, '.js'));
  if (!tsx && existsSync(built)) return [built];
  return ['--import', 'tsx', path.join(REPO_ROOT, 'test/bench/floors', script)];
}

/** Deletes every Redis key under `keyPrefix` (SCAN, never a flush), on a connection of its own. */
export async function deleteRedisKeys(redisUrl: string, keyPrefix: string): Promise<number> {
  if (keyPrefix.length < 8) throw new Error(`refusing key prefix ${keyPrefix}`);
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    return await deleteKeysUnder(redis, keyPrefix);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

export { deleteRabbitNames } from '../helpers/cleanup.js';
