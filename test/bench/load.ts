/**
 * Load generation with one clock: every message body starts with `<seq> <send time µs> `
 * (performance.now() of this process), the receivers in this same process parse it, and a
 * Recorder turns deliveries into latencies and counts. Two drivers: fixed rate (open loop, for
 * percentiles) and max throughput (closed loop with a bounded window, bounded in count and time).
 */
import { percentiles, type Percentiles } from './stats.js';
import { sumCpu, sumSyscalls } from './processes.js';

export const nowUs = (): number => Math.round(performance.now() * 1000);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const PAD = Buffer.alloc(65536, 0x78); // 'x'
const PAD_TEXT = PAD.toString('latin1');

/** A body of exactly `size` bytes: `<seq> <now µs> xxxx…`. */
export function stampedBody(seq: number, size: number): Buffer {
  const head = `${seq} ${nowUs()} `;
  const b = Buffer.allocUnsafe(Math.max(size, head.length));
  const n = b.write(head, 0, 'latin1');
  PAD.copy(b, n, 0, b.length - n);
  return b;
}

/** The same as a string (for JSON bodies of the HTTP API). */
export function stampedText(seq: number, size: number): string {
  const head = `${seq} ${nowUs()} `;
  return head + PAD_TEXT.slice(0, Math.max(0, size - head.length));
}

/** Reads `<seq> <ts> ` at `offset` of a string (clients that hand over text); false when it is not a stamp. */
export function readStampText(text: string, offset: number, out: { seq: number; ts: number }): boolean {
  let i = offset;
  let seq = 0;
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) seq = seq * 10 + (c - 48);
  if (i === offset || text.charCodeAt(i) !== 32) return false;
  const tsStart = ++i;
  let ts = 0;
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) ts = ts * 10 + (c - 48);
  if (i === tsStart) return false;
  out.seq = seq;
  out.ts = ts;
  return true;
}

/** Reads `<seq> <ts> ` at `offset`; false when the bytes there are not a stamp. */
export function readStamp(buf: Buffer, offset: number, out: { seq: number; ts: number }): boolean {
  let i = offset;
  let seq = 0;
  for (let c = buf[i]; c !== undefined && c >= 48 && c <= 57; c = buf[++i]) seq = seq * 10 + (c - 48);
  if (i === offset || buf[i] !== 32) return false;
  const tsStart = ++i;
  let ts = 0;
  for (let c = buf[i]; c !== undefined && c >= 48 && c <= 57; c = buf[++i]) ts = ts * 10 + (c - 48);
  if (i === tsStart) return false;
  out.seq = seq;
  out.ts = ts;
  return true;
}

/**
 * Counts deliveries per sequence number. A message is complete when `expect` deliveries of it
 * arrived (1 for user to user, the subscriber count for fan-out); its latency is the time of that
 * last delivery minus its stamp.
 */
export class Recorder {
  readonly latencyMs: Float64Array;
  private readonly counts: Uint32Array;
  completed = 0;
  deliveries = 0;
  duplicates = 0;
  unknown = 0;
  lastAtMs = NaN;
  private waiter: { target: number; resolve: (ok: boolean) => void } | undefined;

  constructor(
    readonly capacity: number,
    readonly expect = 1,
  ) {
    this.latencyMs = new Float64Array(capacity);
    this.counts = new Uint32Array(capacity);
  }

  record(seq: number, tsUs: number): void {
    const t = performance.now();
    this.deliveries++;
    this.lastAtMs = t;
    if (seq >= this.capacity) {
      this.unknown++;
      return;
    }
    const c = (this.counts[seq] = (this.counts[seq] ?? 0) + 1);
    if (c === this.expect) {
      this.latencyMs[this.completed++] = t - tsUs / 1000;
      const w = this.waiter;
      if (w && this.completed >= w.target) {
        this.waiter = undefined;
        w.resolve(true);
      }
    } else if (c > this.expect) this.duplicates++;
  }

  /** Whether message `seq` is complete. */
  has(seq: number): boolean {
    return (this.counts[seq] ?? 0) >= this.expect;
  }

  /** Resolves true once `target` messages are complete, false after `timeoutMs`. */
  until(target: number, timeoutMs: number): Promise<boolean> {
    if (this.completed >= target) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(false);
      }, timeoutMs);
      this.waiter = {
        target,
        resolve: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
    });
  }

  latency(): Percentiles {
    return percentiles(this.latencyMs, this.completed);
  }
}

/** A sender and its receivers, as the drivers see them. */
export interface Pipe {
  /** Sends message `seq`, its body stamped now. */
  send(seq: number): void;
  /** Where the receivers report deliveries; set by a driver before each run. */
  recorder: Recorder | undefined;
  /** ERROR frames, closed sockets, failed requests: a run with problems fails. */
  problems(): string[];
}

/** CPU time spent during a run: the measured server processes, RabbitMQ + Redis, and this process (the clients). */
export interface CpuSample {
  readonly serverUs: number;
  /** RabbitMQ and Redis together. */
  readonly infraUs: number;
  /** RabbitMQ (its beam.smp) alone; 0 when no RabbitMQ pid was given. */
  readonly rabbitUs: number;
  readonly clientUs: number;
  readonly wallMs: number;
  /** Read / write syscalls of the measured servers (/proc/<pid>/io). */
  readonly serverReads: number;
  readonly serverWrites: number;
}

export function cpuMeter(
  serverPids: readonly number[],
  infraPids: readonly number[],
  rabbitPids: readonly number[] = [],
): () => CpuSample {
  const s0 = sumCpu(serverPids),
    i0 = sumCpu(infraPids),
    r0 = sumCpu(rabbitPids),
    c0 = process.cpuUsage(),
    w0 = performance.now(),
    io0 = sumSyscalls(serverPids);
  return () => {
    const c = process.cpuUsage(c0);
    const io = sumSyscalls(serverPids);
    return {
      serverUs: sumCpu(serverPids) - s0,
      infraUs: sumCpu(infraPids) - i0,
      rabbitUs: sumCpu(rabbitPids) - r0,
      clientUs: c.user + c.system,
      wallMs: performance.now() - w0,
      serverReads: io.reads - io0.reads,
      serverWrites: io.writes - io0.writes,
    };
  };
}

export interface FixedResult {
  readonly mode: 'fixed';
  readonly targetRate: number;
  readonly achievedRate: number;
  readonly sent: number;
  readonly delivered: number;
  /** Messages the sender skipped because too many were undelivered (the system could not keep up). */
  readonly skipped: number;
  readonly latency: Percentiles;
  /** Largest delay of a send behind its schedule (ms): the client's own lag. */
  readonly senderLagMs: number;
  readonly cpu: CpuSample;
  readonly saturated: boolean;
}

export interface FixedOptions {
  readonly rate: number;
  readonly durationMs: number;
  readonly maxInFlight: number;
  readonly drainMs?: number;
  readonly expect?: number;
}

/** Open loop at `rate` msg/s for `durationMs`, then waits (bounded) for the stragglers. */
export async function runFixedRate(pipe: Pipe, opts: FixedOptions, meter: () => () => CpuSample): Promise<FixedResult> {
  const total = Math.ceil((opts.rate * opts.durationMs) / 1000);
  const rec = new Recorder(total + 1, opts.expect ?? 1);
  pipe.recorder = rec;
  const stop = meter();
  const start = performance.now();
  let sent = 0,
    skipped = 0,
    lag = 0;
  for (;;) {
    const t = performance.now() - start;
    if (t >= opts.durationMs) break;
    const due = Math.min(total, Math.floor((t * opts.rate) / 1000) + 1);
    while (sent + skipped < due) {
      if (sent - rec.completed >= opts.maxInFlight) {
        skipped = due - sent;
        break;
      }
      lag = Math.max(lag, t - ((sent + skipped) * 1000) / opts.rate);
      pipe.send(sent++);
    }
    await sleep(1);
  }
  const sendMs = performance.now() - start;
  await rec.until(sent, opts.drainMs ?? 10_000);
  const cpu = stop();
  return {
    mode: 'fixed',
    targetRate: opts.rate,
    achievedRate: sent / (sendMs / 1000),
    sent,
    delivered: rec.completed,
    skipped,
    latency: rec.latency(),
    senderLagMs: lag,
    cpu,
    saturated: skipped > 0 || rec.completed < sent,
  };
}

export interface MaxResult {
  readonly mode: 'max';
  readonly sent: number;
  readonly completed: number;
  readonly deliveries: number;
  readonly elapsedMs: number;
  /** Completed messages per second. */
  readonly rate: number;
  readonly deliveriesPerSec: number;
  /** Latency under full load (queueing included): for the JSON, not the targets. */
  readonly latency: Percentiles;
  readonly cpu: CpuSample;
  readonly stalled: boolean;
}

export interface MaxOptions {
  readonly count: number;
  readonly timeLimitMs: number;
  readonly window: number;
  readonly expect?: number;
  readonly drainMs?: number;
}

/** Closed loop: keeps `window` messages undelivered, until `count` were sent or `timeLimitMs` passed. */
export async function runMaxThroughput(pipe: Pipe, opts: MaxOptions, meter: () => () => CpuSample): Promise<MaxResult> {
  const rec = new Recorder(opts.count, opts.expect ?? 1);
  pipe.recorder = rec;
  const stop = meter();
  const start = performance.now();
  let sent = 0,
    stalls = 0,
    stalled = false;
  while (sent < opts.count && performance.now() - start < opts.timeLimitMs) {
    while (sent < opts.count && sent - rec.completed < opts.window) pipe.send(sent++);
    const before = rec.completed;
    const ok = await rec.until(Math.max(1, sent - Math.floor(opts.window / 2)), 2000);
    if (!ok && rec.completed === before && ++stalls >= 3) {
      stalled = true;
      break;
    }
  }
  await rec.until(sent, opts.drainMs ?? 10_000);
  const cpu = stop();
  const elapsedMs = rec.lastAtMs - start;
  return {
    mode: 'max',
    sent,
    completed: rec.completed,
    deliveries: rec.deliveries,
    elapsedMs,
    rate: rec.completed / (elapsedMs / 1000),
    deliveriesPerSec: rec.deliveries / (elapsedMs / 1000),
    latency: rec.latency(),
    cpu,
    stalled: stalled || rec.completed < sent,
  };
}
