/**
 * A fast sender on a healthy cluster: one lean STOMP client on node 1 SENDs to a user on node 2
 * and keeps --fast-window messages in flight (sent, not yet delivered; the window of the max
 * throughput mode, 10 times wider) for --fast-seconds. It puts a `receipt` on every SEND but does
 * not wait for receipts, as a STOMP.js sender does not: a window counted in receipts could never
 * outgrow a relay buffer as large as itself. A healthy cluster should slow it down (its socket
 * unread, the bytes waiting in the client), not cut it off; the figure says which happened:
 * whether and when it was disconnected (an ERROR frame, the close code), the rates sampled each
 * second, the rate it settled at, and whether every receipted message was delivered.
 */
import { startProduct, withCleanup, type BenchContext } from '../context.js';
import { LeanStompClient } from '../lean-stomp-client.js';
import { Recorder, sleep, stampedBody } from '../load.js';
import { receiveStomp, StompSendPipe } from '../pipes.js';
import { median } from '../stats.js';
import type { FastFigure, FastSample } from '../report.js';

/** Sends per event-loop turn at most: the client must still read its receipts. */
const BURST = 500;
/** Most messages one run may send (the recorder's capacity). */
const CAPACITY = 2_000_000;

export async function fastSender(ctx: BenchContext): Promise<void> {
  const { args } = ctx;
  const size = args.sizes[0] ?? 100;
  const fig: FastFigure = {
    kind: 'fast',
    id: 'fast',
    label: `one sender keeping ${args.fastWindow.toLocaleString('en-US')} messages undelivered, user→user across nodes`,
    size,
    window: args.fastWindow,
    durationMs: args.fastSeconds * 1000,
    samples: [],
    sent: 0,
    receipted: 0,
    delivered: 0,
    receiptedNotDelivered: 0,
    settledRate: NaN,
    latency: { p50: NaN, p99: NaN, p999: NaN, max: NaN, samples: 0 },
    problems: [],
  };
  ctx.figures.push(fig);
  await withCleanup(async (defer) => {
    const cluster = await startProduct(ctx, 'fast', 2, 'cluster');
    defer(() => cluster.stop());
    const a = await LeanStompClient.connect({ url: cluster.wsUrl(0), login: 'fast-a' });
    const b = await LeanStompClient.connect({ url: cluster.wsUrl(1), login: 'fast-b' });
    defer(() => Promise.all([a.close(), b.close()]));
    const destination = '/user/fast-b/queue/chat';
    const pipe = new StompSendPipe(a, destination, [b]);
    receiveStomp(b, pipe);
    await b.subscribe('/user/queue/chat', 'sub-0');
    const rec = new Recorder(CAPACITY);
    pipe.recorder = rec;

    const receipted = new Uint8Array(CAPACITY);
    let receipts = 0;
    a.onReceipt = (id) => {
      const seq = Number(id.slice(1));
      if (id[0] === 'f' && seq < CAPACITY && receipted[seq] === 0) {
        receipted[seq] = 1;
        receipts++;
      }
    };

    let sent = 0;
    const start = performance.now();
    let last = { at: start, sent: 0, receipts: 0, delivered: 0 };
    const sample = (now: number): FastSample => {
      const dt = (now - last.at) / 1000;
      const s: FastSample = {
        atS: (now - start) / 1000,
        sentPerSec: (sent - last.sent) / dt,
        receiptsPerSec: (receipts - last.receipts) / dt,
        deliveriesPerSec: (rec.completed - last.delivered) / dt,
        undelivered: sent - rec.completed,
        unreceipted: sent - receipts,
        bufferedKiB: a.bufferedAmount / 1024,
      };
      last = { at: now, sent, receipts, delivered: rec.completed };
      return s;
    };
    while (performance.now() - start < fig.durationMs && a.problems.length === 0 && sent < CAPACITY) {
      let burst = 0;
      while (sent - rec.completed < args.fastWindow && burst++ < BURST && sent < CAPACITY) {
        a.send(destination, stampedBody(sent, size), [['receipt', `f${sent}`]]);
        sent++;
      }
      // A full window waits a millisecond for deliveries; otherwise one turn so frames can be read.
      if (sent - rec.completed >= args.fastWindow) await sleep(1);
      else await new Promise((r) => setImmediate(r));
      const now = performance.now();
      if (now - last.at >= 1000) fig.samples.push(sample(now));
    }
    const end = performance.now();
    if (end - last.at >= 200) fig.samples.push(sample(end));
    if (a.problems.length > 0) {
      // The ERROR frame comes before the close: wait (bounded) for the close code too.
      await Promise.race([a.closed, sleep(3000)]);
      fig.disconnected = { atS: (end - start) / 1000, reason: a.problems.join('; ') };
    }
    // Drain (bounded): everything sent may still arrive; at least everything receipted must.
    await rec.until(sent, 10_000);

    fig.sent = sent;
    fig.receipted = receipts;
    fig.delivered = rec.completed;
    let missing = 0;
    for (let seq = 0; seq < sent; seq++) if (receipted[seq] === 1 && !rec.has(seq)) missing++;
    fig.receiptedNotDelivered = missing;
    if (missing > 0) fig.problems.push(`${missing} receipted message(s) never delivered`);
    fig.latency = rec.latency();
    const tail = fig.samples.slice(Math.floor(fig.samples.length / 2));
    fig.settledRate = median(tail.map((s) => s.deliveriesPerSec));
    for (const p of [...a.problems, ...b.problems]) if (!fig.problems.includes(p)) fig.problems.push(p);

    for (const s of fig.samples) {
      ctx.progress(
        `  t=${s.atS.toFixed(1)} s: sent ${Math.round(s.sentPerSec)}/s, receipts ${Math.round(s.receiptsPerSec)}/s, delivered ${Math.round(s.deliveriesPerSec)}/s, ${s.undelivered} undelivered, ${s.unreceipted} unreceipted, ${s.bufferedKiB.toFixed(0)} KiB unsent in the client`,
      );
    }
    ctx.progress(
      fig.disconnected
        ? `  DISCONNECTED after ${fig.disconnected.atS.toFixed(1)} s: ${fig.disconnected.reason}`
        : `  not disconnected; settled at ${Math.round(fig.settledRate)} msg/s delivered (median of the last ${tail.length} s)`,
    );
    ctx.progress(
      `  ${sent} sent, ${receipts} receipted, ${rec.completed} delivered, ${missing} receipted but not delivered; latency p50 ${fig.latency.p50.toFixed(1)} ms p99 ${fig.latency.p99.toFixed(1)} ms`,
    );
  });
}
