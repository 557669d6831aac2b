/** Figures (one system × one body size, several runs), their medians, floor ratios, targets; table and JSON. */
import { cpus, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import type { FixedResult, MaxResult } from './load.js';
import type { Percentiles } from './stats.js';
import { median } from './stats.js';

export interface MsgFigure {
  readonly kind: 'msg';
  readonly id: string;
  readonly label: string;
  readonly size: number;
  /** Id of the floor figure (same size) this one is compared with. */
  readonly floor?: string;
  readonly fixed: FixedResult[];
  readonly max: MaxResult[];
  readonly problems: string[];
}

export interface ProbeResult {
  /** Time until the last subscriber had the message, per probe. */
  readonly latency: Percentiles;
  readonly probes: number;
  readonly complete: number;
}

export interface FanoutFigure {
  readonly kind: 'fanout';
  readonly id: string;
  readonly label: string;
  readonly size: number;
  readonly subscribers: number;
  readonly floor?: string;
  readonly probes: ProbeResult[];
  readonly max: MaxResult[];
  readonly problems: string[];
}

export interface IdleFigure {
  readonly kind: 'idle';
  readonly id: string;
  readonly label: string;
  readonly sessions: number;
  readonly servers: number;
  readonly floor?: string;
  rssPerConn: number;
  heapPerConn: number;
  connectPerSec: number;
  rssBefore: number;
  rssAfter: number;
  /** The same, each server's memory read right after a full GC, before and after the connecting. */
  rssPerConnGc: number;
  heapPerConnGc: number;
  readonly problems: string[];
}

export interface SoakSample {
  readonly minute: number;
  readonly rss: number[];
  readonly heap: number[];
  readonly p99: number;
  readonly achievedRate: number;
}

export interface SoakFigure {
  readonly kind: 'soak';
  readonly id: string;
  readonly label: string;
  readonly floor?: string;
  readonly samples: SoakSample[];
  readonly problems: string[];
}

export interface FastSample {
  /** Seconds since the sender started, at the end of the interval. */
  readonly atS: number;
  readonly sentPerSec: number;
  readonly receiptsPerSec: number;
  readonly deliveriesPerSec: number;
  /** Sent and not yet delivered (the sender's window), and sent and not yet receipted, at the sample. */
  readonly undelivered: number;
  readonly unreceipted: number;
  /** Bytes the client's socket could not write yet: it grows when a node stops reading it. */
  readonly bufferedKiB: number;
}

export interface FastFigure {
  readonly kind: 'fast';
  readonly id: string;
  readonly label: string;
  readonly size: number;
  readonly window: number;
  readonly durationMs: number;
  readonly floor?: string;
  readonly samples: FastSample[];
  sent: number;
  receipted: number;
  delivered: number;
  /** Receipted (accepted) messages that never arrived: must be 0. */
  receiptedNotDelivered: number;
  disconnected?: { readonly atS: number; readonly reason: string };
  /** Median deliveries/s over the second half of the samples. */
  settledRate: number;
  latency: Percentiles;
  readonly problems: string[];
}

export type Figure = MsgFigure | FanoutFigure | IdleFigure | SoakFigure | FastFigure;

export interface Target {
  readonly name: string;
  readonly figure: string;
  readonly value: number;
  readonly limit: number;
  readonly met: boolean | undefined;
  readonly text: string;
}

// ---- medians over runs ------------------------------------------------------------------------

export interface MsgSummary {
  readonly achievedRate: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly maxRate: number;
  /** Server CPU per message in the fixed-rate runs. */
  readonly cpuUs: number;
  readonly infraUs: number;
  readonly clientUs: number;
  readonly maxCpuUs: number;
  /** RabbitMQ's own CPU per message in the fixed-rate runs (beam.smp alone). */
  readonly rabbitUs: number;
  /** The bench process (the clients) during the max-throughput runs: µs per message, share of a core. */
  readonly maxClientUs: number;
  readonly maxClientCore: number;
  readonly saturated: boolean;
}

export function summarizeMsg(f: MsgFigure): MsgSummary {
  return {
    achievedRate: median(f.fixed.map((r) => r.achievedRate)),
    p50: median(f.fixed.map((r) => r.latency.p50)),
    p99: median(f.fixed.map((r) => r.latency.p99)),
    p999: median(f.fixed.map((r) => r.latency.p999)),
    maxRate: median(f.max.map((r) => r.rate)),
    cpuUs: median(f.fixed.map((r) => r.cpu.serverUs / r.delivered)),
    infraUs: median(f.fixed.map((r) => r.cpu.infraUs / r.delivered)),
    clientUs: median(f.fixed.map((r) => r.cpu.clientUs / r.delivered)),
    maxCpuUs: median(f.max.map((r) => r.cpu.serverUs / r.completed)),
    rabbitUs: median(f.fixed.map((r) => r.cpu.rabbitUs / r.delivered)),
    maxClientUs: median(f.max.map((r) => r.cpu.clientUs / r.completed)),
    maxClientCore: median(f.max.map((r) => (r.cpu.wallMs > 0 ? r.cpu.clientUs / (r.cpu.wallMs * 1000) : NaN))),
    saturated: f.fixed.some((r) => r.saturated),
  };
}

export interface FanoutSummary {
  readonly ttlP50: number;
  readonly ttlP99: number;
  readonly ttlMax: number;
  readonly deliveriesPerSec: number;
  readonly cpuUsPerDelivery: number;
  readonly infraUsPerDelivery: number;
}

export function summarizeFanout(f: FanoutFigure): FanoutSummary {
  return {
    ttlP50: median(f.probes.map((p) => p.latency.p50)),
    ttlP99: median(f.probes.map((p) => p.latency.p99)),
    ttlMax: median(f.probes.map((p) => p.latency.max)),
    deliveriesPerSec: median(f.max.map((r) => r.deliveriesPerSec)),
    cpuUsPerDelivery: median(f.max.map((r) => r.cpu.serverUs / r.deliveries)),
    infraUsPerDelivery: median(f.max.map((r) => r.cpu.infraUs / r.deliveries)),
  };
}

// ---- formatting ---------------------------------------------------------------------------------

export const fmt = (n: number, digits = 2): string =>
  Number.isFinite(n) ? (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits)) : '—';
const ratio = (a: number, b: number): string =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? ` (×${(a / b).toFixed(2)})` : '';
const kib = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1024).toFixed(1) : '—');
export const size = (n: number): string => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`);

export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export function machineInfo(): Record<string, string | number> {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {
    // not Linux
  }
  return {
    nproc: cpus().length,
    cpu: model,
    node: process.version,
    memGiB: Math.round(totalmem() / 2 ** 30),
    loadavg1: Number(loadavg()[0]?.toFixed(2)),
  };
}

export interface RenderInput {
  readonly figures: readonly Figure[];
  readonly targets: readonly Target[];
  readonly header: readonly string[];
  /** Sections placed after the figures' own tables, before the targets. */
  readonly sections?: readonly string[];
}

/**
 * The bench clients' CPU at max throughput, e.g. `31.4 µs (≤ 31,800/s), 45 %`: µs per message, the
 * rate one core of such clients could drive at most, and the share of a core they took; near
 * 100 % the clients, not the servers, are the cap.
 */
export const clientCell = (s: MsgSummary): string =>
  Number.isFinite(s.maxClientCore) && s.maxClientUs > 0
    ? `${fmt(s.maxClientUs, 1)} µs (≤ ${fmt(1e6 / s.maxClientUs)}/s), ${Math.round(s.maxClientCore * 100)} %${s.maxClientCore >= CLIENT_BOUND ? ' client-bound' : ''}`
    : '—';
/** A share of a core above which a figure is taken as capped by the bench's own clients. */
export const CLIENT_BOUND = 0.9;

/** The report as markdown: readable in a terminal, pasteable into docs/performance.md. */
export function renderTables(input: RenderInput): string {
  const byId = new Map<string, Figure>();
  for (const f of input.figures)
    byId.set(`${f.id}@${'size' in f ? f.size : ''}${f.kind === 'fanout' ? `/${f.subscribers}` : ''}`, f);
  const floorOf = (f: Figure): Figure | undefined =>
    f.floor === undefined
      ? undefined
      : byId.get(`${f.floor}@${'size' in f ? f.size : ''}${f.kind === 'fanout' ? `/${f.subscribers}` : ''}`);
  const out: string[] = [...input.header, ''];

  const msg = input.figures.filter((f): f is MsgFigure => f.kind === 'msg');
  const isReference = (f: MsgFigure) => f.id.startsWith('floor.') || f.id.startsWith('peer.');
  const product = msg.filter((f) => !isReference(f));
  const floors = msg.filter(isReference);
  const msgHead = [
    'figure',
    'body',
    'fixed msg/s',
    'p50 ms',
    'p99 ms',
    'p999 ms',
    'max msg/s',
    'node CPU µs/msg',
    'Rabbit+Redis µs/msg',
    'clients at max',
  ];
  if (product.length > 0) {
    out.push(
      '**Messaging** — fixed rate (latency, one clock; CPU per message at that rate) and max throughput; (×…) = ratio to the floor named; "clients at max" = the bench process (all clients: senders and receivers) in the max-throughput runs: CPU per message, the rate one core of it could drive, its share of a core',
      '',
    );
    out.push(
      table(
        [...msgHead, 'floor'],
        product.map((f) => {
          const s = summarizeMsg(f);
          const fl = floorOf(f);
          const fs = fl?.kind === 'msg' ? summarizeMsg(fl) : undefined;
          return [
            f.label + (f.problems.length > 0 ? ' ⚠' : ''),
            size(f.size),
            fmt(s.achievedRate) + (s.saturated ? ' (sat.)' : ''),
            fmt(s.p50) + ratio(s.p50, fs?.p50 ?? NaN),
            fmt(s.p99) + ratio(s.p99, fs?.p99 ?? NaN),
            fmt(s.p999) + ratio(s.p999, fs?.p999 ?? NaN),
            fmt(s.maxRate) + ratio(s.maxRate, fs?.maxRate ?? NaN),
            fmt(s.cpuUs, 1) + ratio(s.cpuUs, fs?.cpuUs ?? NaN),
            fmt(s.infraUs, 1),
            clientCell(s),
            fl?.label ?? '—',
          ];
        }),
      ),
      '',
    );
  }
  if (floors.length > 0) {
    out.push('**Floors and peers** (same process layout, same run)', '');
    out.push(
      table(
        msgHead,
        floors.map((f) => {
          const s = summarizeMsg(f);
          return [
            f.label + (f.problems.length > 0 ? ' ⚠' : ''),
            size(f.size),
            fmt(s.achievedRate) + (s.saturated ? ' (sat.)' : ''),
            fmt(s.p50),
            fmt(s.p99),
            fmt(s.p999),
            fmt(s.maxRate),
            s.cpuUs > 0 ? fmt(s.cpuUs, 1) : '—',
            fmt(s.infraUs, 1),
            clientCell(s),
          ];
        }),
      ),
      '',
    );
  }

  const fan = input.figures.filter((f): f is FanoutFigure => f.kind === 'fanout');
  if (fan.length > 0) {
    out.push(
      '**Fan-out** — time until the last subscriber has a message (single messages), deliveries/s (closed loop)',
      '',
    );
    out.push(
      table(
        [
          'figure',
          'body',
          'subscribers',
          'to last p50 ms',
          'to last max ms',
          'deliveries/s',
          'node CPU µs/delivery',
          'Rabbit+Redis µs/delivery',
        ],
        fan.map((f) => {
          const s = summarizeFanout(f);
          const fl = floorOf(f);
          const fs = fl?.kind === 'fanout' ? summarizeFanout(fl) : undefined;
          return [
            f.label + (f.problems.length > 0 ? ' ⚠' : ''),
            size(f.size),
            String(f.subscribers),
            fmt(s.ttlP50) + ratio(s.ttlP50, fs?.ttlP50 ?? NaN),
            fmt(s.ttlMax) + ratio(s.ttlMax, fs?.ttlMax ?? NaN),
            fmt(s.deliveriesPerSec) + ratio(s.deliveriesPerSec, fs?.deliveriesPerSec ?? NaN),
            fmt(s.cpuUsPerDelivery, 2) + ratio(s.cpuUsPerDelivery, fs?.cpuUsPerDelivery ?? NaN),
            fmt(s.infraUsPerDelivery, 2),
          ];
        }),
      ),
      '',
    );
  }

  const idle = input.figures.filter((f): f is IdleFigure => f.kind === 'idle');
  if (idle.length > 0) {
    out.push('**Idle connections** (heart-beats 10 s both ways for STOMP sessions)', '');
    out.push(
      table(
        [
          'figure',
          'sessions',
          'servers',
          'RSS/conn KiB',
          'heap/conn KiB',
          'after a full GC: RSS/conn KiB',
          'heap/conn KiB',
          'connects/s',
          'RSS before → after MiB',
        ],
        idle.map((f) => {
          const fl = floorOf(f);
          const fi = fl?.kind === 'idle' ? fl : undefined;
          return [
            f.label + (f.problems.length > 0 ? ' ⚠' : ''),
            f.sessions.toLocaleString('en-US'),
            String(f.servers),
            kib(f.rssPerConn) + ratio(f.rssPerConn, fi?.rssPerConn ?? NaN),
            kib(f.heapPerConn) + ratio(f.heapPerConn, fi?.heapPerConn ?? NaN),
            kib(f.rssPerConnGc) + ratio(f.rssPerConnGc, fi?.rssPerConnGc ?? NaN),
            kib(f.heapPerConnGc) + ratio(f.heapPerConnGc, fi?.heapPerConnGc ?? NaN),
            fmt(f.connectPerSec) + ratio(f.connectPerSec, fi?.connectPerSec ?? NaN),
            `${(f.rssBefore / 2 ** 20).toFixed(0)} → ${(f.rssAfter / 2 ** 20).toFixed(0)}`,
          ];
        }),
      ),
      '',
    );
  }

  for (const f of input.figures.filter((x): x is SoakFigure => x.kind === 'soak')) {
    out.push(`**Soak** — ${f.label}`, '');
    out.push(
      table(
        ['minute', 'msg/s', 'p99 ms', 'RSS MiB per node', 'heap MiB per node'],
        f.samples.map((s) => [
          String(s.minute),
          fmt(s.achievedRate),
          fmt(s.p99),
          s.rss.map((r) => (r / 2 ** 20).toFixed(0)).join(' / '),
          s.heap.map((r) => (r / 2 ** 20).toFixed(0)).join(' / '),
        ]),
      ),
      '',
    );
  }

  for (const section of input.sections ?? []) out.push(section, '');

  if (input.targets.length > 0) {
    out.push('**Targets**', '');
    out.push(
      table(
        ['target', 'figure', 'measured', 'met'],
        input.targets.map((t) => [t.name, t.figure, t.text, t.met === undefined ? 'n/a' : t.met ? 'yes' : '**no**']),
      ),
      '',
    );
  }

  const problems = input.figures.filter((f) => f.problems.length > 0);
  if (problems.length > 0) {
    out.push('**Problems** (⚠)', '');
    for (const f of problems)
      out.push(`- ${f.label}${'size' in f ? ` ${size(f.size)}` : ''}: ${f.problems.slice(0, 3).join('; ')}`);
    out.push('');
  }
  return out.join('\n');
}

/** Each target of issue 7, evaluated on the medians. */
export function evaluateTargets(figures: readonly Figure[]): Target[] {
  const find = <K extends Figure['kind']>(
    kind: K,
    id: string,
    pred: (f: Extract<Figure, { kind: K }>) => boolean = () => true,
  ) =>
    figures.filter(
      (f): f is Extract<Figure, { kind: K }> =>
        f.kind === kind && f.id === id && pred(f as Extract<Figure, { kind: K }>),
    );
  const targets: Target[] = [];
  const msgRatio = (
    name: string,
    id: string,
    floorId: string,
    pick: (s: MsgSummary) => number,
    limit: number,
    atLeast: boolean,
    what: string,
  ) => {
    for (const f of find('msg', id)) {
      const fl = find('msg', floorId, (x) => x.size === f.size)[0];
      if (!fl) continue;
      const v = pick(summarizeMsg(f)) / pick(summarizeMsg(fl));
      targets.push({
        name,
        figure: `${f.label} ${size(f.size)}`,
        value: v,
        limit,
        met: Number.isFinite(v) ? (atLeast ? v >= limit : v <= limit) : false,
        text: `${what} ×${v.toFixed(2)} (${atLeast ? '≥' : '≤'} ${limit})`,
      });
    }
  };
  msgRatio('S1 throughput ≥ 0.6 × raw ws echo', 'single', 'floor.echo', (s) => s.maxRate, 0.6, true, 'msg/s');
  for (const id of ['cross.user', 'cross.chat']) {
    msgRatio('S2 throughput ≥ 0.85 × floor', id, 'floor.relay', (s) => s.maxRate, 0.85, true, 'msg/s');
    msgRatio('S2 p99 at fixed rate ≤ 1.5 × floor p99', id, 'floor.relay', (s) => s.p99, 1.5, false, 'p99');
  }
  for (const f of find('fanout', 'fanout')) {
    const fl = find('fanout', 'floor.push', (x) => x.size === f.size && x.subscribers === f.subscribers)[0];
    if (!fl) continue;
    const v = summarizeFanout(f).deliveriesPerSec / summarizeFanout(fl).deliveriesPerSec;
    targets.push({
      name: 'S3 deliveries/s ≥ 0.8 × raw ws one-way',
      figure: `${f.label} ${size(f.size)} ×${f.subscribers}`,
      value: v,
      limit: 0.8,
      met: Number.isFinite(v) ? v >= 0.8 : false,
      text: `deliveries/s ×${v.toFixed(2)} (≥ 0.8)`,
    });
  }
  for (const f of find('idle', 'idle')) {
    const fl = find('idle', 'floor.idle', (x) => x.sessions === f.sessions)[0];
    if (!fl) continue;
    // Judged after a full GC of both (memory the connections hold); as held is shown beside it.
    const v = f.rssPerConnGc / fl.rssPerConnGc;
    const held = f.rssPerConn / fl.rssPerConn;
    targets.push({
      name: 'S5 RSS/conn ≤ 1.3 × bare ws',
      figure: `${f.label} ${f.sessions}`,
      value: v,
      limit: 1.3,
      met: Number.isFinite(v) ? v <= 1.3 : false,
      text:
        `after a full GC ${kib(f.rssPerConnGc)} vs ${kib(fl.rssPerConnGc)} KiB ×${v.toFixed(2)} (≤ 1.3); ` +
        `as held ${kib(f.rssPerConn)} vs ${kib(fl.rssPerConn)} KiB ×${held.toFixed(2)}`,
    });
  }
  for (const f of find('soak', 'soak')) {
    // RSS saws up and down with any backlog; a leak lifts the lows. Compare the lowest RSS of the
    // last third of the minutes with that of the first third, node by node.
    const minutes = f.samples.filter((x) => x.minute > 0);
    const w = Math.max(1, Math.floor(minutes.length / 3));
    const first = minutes.slice(0, w),
      last = minutes.slice(-w);
    if (first.length === 0 || minutes.length < 2) continue;
    const low = (xs: readonly SoakSample[], node: number) => Math.min(...xs.map((x) => x.rss[node] ?? NaN));
    const nodes = first[0]!.rss.length;
    const growth = Math.max(...Array.from({ length: nodes }, (_, n) => low(last, n) / low(first, n)));
    targets.push({
      name: 'Memory flat over the soak (lowest RSS of the last third ≤ 1.1 × of the first third)',
      figure: f.label,
      value: growth,
      limit: 1.1,
      met: Number.isFinite(growth) ? growth <= 1.1 : false,
      text: `lowest RSS, minutes ${last[0]!.minute}-${last[last.length - 1]!.minute} vs ${first[0]!.minute}-${first[first.length - 1]!.minute}: ×${growth.toFixed(2)} (worst node)`,
    });
  }
  if (!figures.some((f) => f.kind === 'soak')) {
    targets.push({
      name: 'Memory flat over 10 min at 5,000 msg/s',
      figure: '(--soak)',
      value: NaN,
      limit: 1.1,
      met: undefined,
      text: 'not run (use --soak)',
    });
  }
  return targets;
}
