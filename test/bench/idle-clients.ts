/**
 * Child process of the idle scenario: holds COUNT idle connections to URL — STOMP sessions
 * (MODE=stomp: CONNECT with heart-beat HEARTBEAT_MS both ways, answering with a heart-beat every
 * HEARTBEAT_MS, each subscribed to its document's chat and presence topic, documents of 10
 * users) or bare WebSockets (MODE=raw) — opened CONCURRENCY at a time. Prints
 * `{"msg":"connected","count","failed","ms","problems","lateMs","error"}` then `{"msg":"ready"}`, holds them until
 * SIGTERM; on SIGUSR2 prints `{"msg":"status","open","whileHolding","lateMs","sample"}`. Bare WebSockets heart-beat too (a "\n" every HEARTBEAT_MS). A child of its own because one process may hold at most `ulimit -n` sockets.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import WebSocket from 'ws';
import { inBatches, LeanStompClient } from './lean-stomp-client.js';

const url = process.env.URL ?? '';
const count = Number(process.env.COUNT ?? 0);
const mode = process.env.MODE === 'raw' ? 'raw' : 'stomp';
const loginPrefix = process.env.LOGIN_PREFIX ?? 'idle';
const concurrency = Number(process.env.CONCURRENCY ?? 200);
const heartbeatMs = Number(process.env.HEARTBEAT_MS ?? 10_000);
/** Users per document (DOC_USERS, default 10): fewer stand for a node holding a few users of each. */
const docUsers = Math.max(1, Number(process.env.DOC_USERS ?? 10));

const stomp: LeanStompClient[] = [];
const raw: WebSocket[] = [];
let failed = 0;
let firstError: string | undefined;

function openRaw(): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => {
      raw.push(ws);
      resolve();
    });
    ws.once('error', (err) => {
      failed++;
      firstError ??= err.message;
      resolve();
    });
  });
}

// A tenth of the sessions beat each second: every session every HEARTBEAT_MS, without a timer each.
// From the start: with tens of thousands of sessions the connecting takes longer than the server's
// patience with a silent session.
// Session k beats in slot k mod 10: every session every HEARTBEAT_MS exactly, also while the
// list still grows. A late tick beats every slot that came due meanwhile: otherwise a process
// starved of CPU for a while (ticks each 2 s late) would beat each session every 30 s rather than
// 12, and the server would rightly close them; a client's own timer is late once, not ten times.
const sliceMs = heartbeatMs / 10;
let slotsBeaten = 0;
const t0 = performance.now();
const problemsOf = () => stomp.reduce((n, c) => n + c.problems.length, 0);
// How late this process's beat tick ran (ms past its interval), worst while connecting and while
// holding: a holder starved of CPU beats late, and the server may then rightly close its sessions.
const late = { connecting: 0, holding: 0 };
let phase: keyof typeof late = 'connecting';
let lastTick = performance.now();
// Each 5 s window where a beat was over 1 s late or a session had a problem is printed
// (`{"msg":"window","t","connected","problems","lateMs","gcMs"}`): when, and whether this process's
// own garbage collection held it up.
const window = { late: 0, gcMs: 0, problems: 0, start: performance.now() };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });
const beat = setInterval(() => {
  const now = performance.now();
  late[phase] = Math.max(late[phase], now - lastTick - heartbeatMs / 10);
  window.late = Math.max(window.late, now - lastTick - heartbeatMs / 10);
  if (now - window.start >= 5000) {
    const problems = problemsOf();
    if (window.late > 1000 || problems > window.problems)
      process.stdout.write(
        `${JSON.stringify({ msg: 'window', t: Math.round((now - t0) / 1000), connected: stomp.length + raw.length, problems: problems - window.problems, lateMs: Math.round(window.late), gcMs: Math.round(window.gcMs) })}\n`,
      );
    Object.assign(window, { late: 0, gcMs: 0, problems, start: now });
  }
  lastTick = now;
  // After a stall of more than a period, every session once, not the whole backlog tick by tick.
  const due = Math.floor((now - t0) / sliceMs);
  slotsBeaten = Math.max(slotsBeaten, due - 10);
  for (; slotsBeaten < due; slotsBeaten++) {
    const slot = slotsBeaten % 10;
    for (let k = slot; k < stomp.length; k += 10) stomp[k]!.heartbeat();
    for (let k = slot; k < raw.length; k += 10) if (raw[k]!.readyState === WebSocket.OPEN) raw[k]!.send('\n');
  }
}, sliceMs);

await inBatches(count, concurrency, async (i) => {
  if (mode === 'raw') return openRaw();
  try {
    const c = await LeanStompClient.connect({
      url,
      login: `${loginPrefix}-${i}`,
      heartbeat: [heartbeatMs, heartbeatMs],
      timeoutMs: 30_000,
    });
    stomp.push(c);
    // As a user of the demo: its document's chat and presence (documents of 10 users).
    const doc = `${loginPrefix}-d${Math.floor(i / docUsers)}`;
    await c.subscribe(`/user/${doc}/queue/chat`, 'chat', 30_000);
    await c.subscribe(`/topic/docs/${doc}/presence`, 'presence', 30_000);
  } catch (err) {
    failed++;
    firstError ??= String(err);
  }
});
const ms = performance.now() - t0;
const problemsConnecting = problemsOf();
phase = 'holding';
process.stdout.write(
  `${JSON.stringify({ msg: 'connected', count: stomp.length + raw.length, failed, ms, problems: problemsConnecting, lateMs: Math.round(late.connecting), ...(firstError ? { error: firstError } : {}) })}\n${JSON.stringify({ msg: 'ready' })}\n`,
);

const stop = () => {
  clearInterval(beat);
  const problems = problemsOf();
  process.stdout.write(
    `${JSON.stringify({ msg: 'closing', problems, whileHolding: problems - problemsConnecting, lateMs: Math.round(late.holding), sample: stomp.find((c) => c.problems.length > 0)?.problems[0] })}\n`,
  );
  for (const c of stomp) c.ws.terminate();
  for (const w of raw) w.terminate();
  setTimeout(() => process.exit(0), 200);
};
// Asked for by the scenario at the end of its hold. `open`: the sessions still open then (a node
// may have closed some for silence while the others connected): what the memory read is divided by.
process.on('SIGUSR2', () => {
  const problems = problemsOf();
  const open =
    stomp.filter((c) => c.ws.readyState === WebSocket.OPEN).length +
    raw.filter((w) => w.readyState === WebSocket.OPEN).length;
  process.stdout.write(
    `${JSON.stringify({ msg: 'status', open, whileHolding: problems - problemsConnecting, lateMs: Math.round(late.holding), sample: stomp.find((c) => c.problems.length > 0)?.problems[0] })}\n`,
  );
});
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
