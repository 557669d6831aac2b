/**
 * S2 beside what users would pick instead, measured in the same run: every S2 figure as a ratio
 * to each floor and peer, the fast sender's outcome, and the targets these comparisons carry.
 */
import {
  CLIENT_BOUND,
  clientCell,
  fmt,
  size,
  summarizeMsg,
  table,
  type FastFigure,
  type Figure,
  type MsgFigure,
  type MsgSummary,
  type Target,
} from './report.js';

/** The references an S2 figure is divided by, when the run has them. */
const REFERENCES: readonly { readonly id: string; readonly name: string }[] = [
  { id: 'floor.relay', name: 'persistent floor' },
  { id: 'floor.transient', name: 'transient floor' },
  { id: 'peer.socketio', name: 'Socket.IO' },
  { id: 'floor.amqp', name: 'amqplib alone' },
];

const x = (a: number, b: number): string =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `×${(a / b).toFixed(2)}` : '—';

function msgFigures(figures: readonly Figure[]): MsgFigure[] {
  return figures.filter((f): f is MsgFigure => f.kind === 'msg');
}

function reference(figures: readonly Figure[], id: string, bodySize: number): MsgSummary | undefined {
  const f = msgFigures(figures).find((m) => m.id === id && m.size === bodySize && m.max.length > 0);
  return f ? summarizeMsg(f) : undefined;
}

/** "S2 against floors and peers": one row per S2 figure and body size. */
export function renderComparison(figures: readonly Figure[]): string | undefined {
  const s2 = msgFigures(figures).filter((f) => f.id.startsWith('cross.') && f.max.length > 0);
  const refs = REFERENCES.filter((r) => msgFigures(figures).some((f) => f.id === r.id));
  if (s2.length === 0 || refs.length === 0) return undefined;
  const head = [
    'S2 figure',
    'body',
    'max msg/s',
    ...refs.map((r) => `÷ ${r.name}`),
    'p50 ms',
    'p99 ms',
    'p99 ÷ Socket.IO',
    'RabbitMQ µs/msg at fixed rate',
    'clients at max',
  ];
  const rows = s2.map((f) => {
    const s = summarizeMsg(f);
    const persistent = reference(figures, 'floor.relay', f.size);
    const sio = reference(figures, 'peer.socketio', f.size);
    return [
      f.label + (f.problems.length > 0 ? ' ⚠' : ''),
      size(f.size),
      fmt(s.maxRate),
      ...refs.map((r) => x(s.maxRate, reference(figures, r.id, f.size)?.maxRate ?? NaN)),
      fmt(s.p50),
      fmt(s.p99),
      x(s.p99, sio?.p99 ?? NaN),
      `${fmt(s.rabbitUs, 1)}${persistent ? ` (${x(s.rabbitUs, persistent.rabbitUs)} of the persistent floor's ${fmt(persistent.rabbitUs, 1)})` : ''}`,
      clientCell(s),
    ];
  });
  return [
    "**S2 against floors and peers** — max msg/s divided by each (same body size, same run); p99 at the fixed rate divided by Socket.IO's; RabbitMQ's own CPU (beam.smp, shared with anything else using the broker) per message at the fixed rate",
    '',
    table(head, rows),
  ].join('\n');
}

/** The fast sender's samples and outcome. */
export function renderFastSender(figures: readonly Figure[]): string | undefined {
  const out: string[] = [];
  for (const f of figures.filter((g): g is FastFigure => g.kind === 'fast')) {
    out.push(`**Fast sender** — ${f.label}, ${size(f.size)}, ${f.durationMs / 1000} s`, '');
    out.push(
      table(
        ['t s', 'sent/s', 'receipts/s', 'delivered/s', 'undelivered', 'unreceipted', 'KiB unsent in the client'],
        f.samples.map((s) => [
          s.atS.toFixed(1),
          fmt(s.sentPerSec),
          fmt(s.receiptsPerSec),
          fmt(s.deliveriesPerSec),
          s.undelivered.toLocaleString('en-US'),
          s.unreceipted.toLocaleString('en-US'),
          s.bufferedKiB.toFixed(0),
        ]),
      ),
      '',
    );
    out.push(
      f.disconnected
        ? `**Disconnected** after ${f.disconnected.atS.toFixed(1)} s: ${f.disconnected.reason}.`
        : `Not disconnected; settled at ${fmt(f.settledRate)} msg/s delivered (median of the second half of the samples).`,
    );
    out.push(
      `${f.sent.toLocaleString('en-US')} sent, ${f.receipted.toLocaleString('en-US')} receipted, ${f.delivered.toLocaleString('en-US')} delivered, ${f.receiptedNotDelivered} receipted but never delivered; latency under this load p50 ${fmt(f.latency.p50)} ms, p99 ${fmt(f.latency.p99)} ms.`,
    );
  }
  return out.length > 0 ? out.join('\n') : undefined;
}

/** The targets of the comparison with what users would pick instead, on the medians. */
export function evaluatePeerTargets(figures: readonly Figure[]): Target[] {
  const targets: Target[] = [];
  const push = (name: string, f: MsgFigure, value: number, limit: number, atLeast: boolean, text: string) =>
    targets.push({
      name,
      figure: `${f.label} ${size(f.size)}`,
      value,
      limit,
      met: Number.isFinite(value) ? (atLeast ? value >= limit : value <= limit) : false,
      text,
    });
  const clientNote = (s: MsgSummary) =>
    s.maxClientCore >= CLIENT_BOUND
      ? `; clients at ${Math.round(s.maxClientCore * 100)} % of a core: client-bound`
      : '';
  const ratio = (
    name: string,
    f: MsgFigure,
    refId: string,
    pick: (s: MsgSummary) => number,
    limit: number,
    atLeast: boolean,
    what: string,
  ) => {
    const ref = reference(figures, refId, f.size);
    if (!ref) return;
    const s = summarizeMsg(f);
    const v = pick(s) / pick(ref);
    push(
      name,
      f,
      v,
      limit,
      atLeast,
      `${what} ${fmt(pick(s))} vs ${fmt(pick(ref))}: ×${v.toFixed(2)} (${atLeast ? '≥' : '≤'} ${limit})${clientNote(s)}`,
    );
  };
  const s2 = msgFigures(figures).filter((f) => (f.id === 'cross.user' || f.id === 'cross.stompjs') && f.max.length > 0);
  for (const f of s2.filter((g) => g.size < 1024)) {
    ratio('S2 max ≥ 1.5 × transient per-message floor', f, 'floor.transient', (s) => s.maxRate, 1.5, true, 'msg/s');
    ratio('S2 max ≥ 1.5 × Socket.IO + Redis adapter', f, 'peer.socketio', (s) => s.maxRate, 1.5, true, 'msg/s');
    ratio('S2 p99 at fixed rate ≤ Socket.IO p99', f, 'peer.socketio', (s) => s.p99, 1, false, 'p99 ms');
    const p50 = summarizeMsg(f).p50;
    push('S2 p50 at fixed rate ≤ 2 ms', f, p50, 2, false, `p50 ${fmt(p50)} ms (≤ 2)`);
    if (f.id === 'cross.user')
      ratio(
        'RabbitMQ CPU/msg at fixed rate ≤ 0.25 × per-message persistent floor',
        f,
        'floor.relay',
        (s) => s.rabbitUs,
        0.25,
        false,
        'µs/msg',
      );
  }
  for (const f of s2.filter((g) => g.size >= 1024)) {
    ratio('S2 max ≥ 1.0 × transient per-message floor', f, 'floor.transient', (s) => s.maxRate, 1, true, 'msg/s');
  }
  for (const f of msgFigures(figures).filter((g) => g.id === 'cross.chat' && g.max.length > 0)) {
    const user = msgFigures(figures).find((g) => g.id === 'cross.user' && g.size === f.size && g.max.length > 0);
    if (!user) continue;
    const v = summarizeMsg(f).maxRate / summarizeMsg(user).maxRate;
    push('/app/chat max ≥ 0.9 × user→user', f, v, 0.9, true, `msg/s ×${v.toFixed(2)} of user→user (≥ 0.9)`);
  }
  for (const f of figures.filter((g): g is FastFigure => g.kind === 'fast')) {
    targets.push({
      name: 'A sender with a full window on a healthy cluster is never disconnected',
      figure: f.label,
      value: f.disconnected ? 0 : 1,
      limit: 1,
      met: !f.disconnected,
      text: f.disconnected
        ? `disconnected after ${f.disconnected.atS.toFixed(1)} s (${f.disconnected.reason.slice(0, 120)})`
        : `settled at ${fmt(f.settledRate)} msg/s; ${f.receiptedNotDelivered} receipted but not delivered`,
    });
  }
  return targets;
}
