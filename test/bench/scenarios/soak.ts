/**
 * --soak: scenario 2's user → user (first body size) at the fixed rate for --soak-minutes, in
 * one-minute segments; after each, the nodes' RSS and heap. Memory is flat when the last
 * minute's RSS is within 10 % of minute 1's (the first minute warms up).
 */
import { startProduct, withCleanup, type BenchContext } from '../context.js';
import { LeanStompClient } from '../lean-stomp-client.js';
import { cpuMeter, runFixedRate } from '../load.js';
import { receiveStomp, StompSendPipe } from '../pipes.js';
import { rssBytes } from '../processes.js';
import type { SoakFigure } from '../report.js';

export async function soak(ctx: BenchContext): Promise<void> {
  const { args } = ctx;
  const size = args.sizes[0] ?? 100;
  const fig: SoakFigure = {
    kind: 'soak',
    id: 'soak',
    label: `S2 cross node user→user, ${size} B at ${args.rate.toLocaleString('en-US')} msg/s for ${args.soakMinutes} min`,
    samples: [],
    problems: [],
  };
  ctx.figures.push(fig);
  await withCleanup(async (defer) => {
    const cluster = await startProduct(ctx, 'soak', 2, 'cluster');
    defer(() => cluster.stop());
    const a = await LeanStompClient.connect({ url: cluster.wsUrl(0), login: 'soak-a' });
    const b = await LeanStompClient.connect({ url: cluster.wsUrl(1), login: 'soak-b' });
    defer(() => Promise.all([a.close(), b.close()]));
    const pipe = new StompSendPipe(a, '/user/soak-b/queue/chat', [b]);
    receiveStomp(b, pipe);
    await b.subscribe('/user/queue/chat', 'sub-0');
    pipe.size = size;
    const pids = cluster.nodes.map((n) => n.pid);
    const heap = async () =>
      Promise.all(
        cluster.nodes.map(async (n) => {
          try {
            const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec(
              await (await fetch(`${n.http}/metrics`)).text(),
            );
            return m ? Number(m[1]) : NaN;
          } catch {
            return NaN;
          }
        }),
      );
    fig.samples.push({ minute: 0, rss: pids.map(rssBytes), heap: await heap(), p99: NaN, achievedRate: NaN });
    for (let minute = 1; minute <= args.soakMinutes; minute++) {
      const r = await runFixedRate(pipe, { rate: args.rate, durationMs: 60_000, maxInFlight: args.maxInFlight }, () =>
        cpuMeter(pids, ctx.infraPids),
      );
      const sample = {
        minute,
        rss: pids.map(rssBytes),
        heap: await heap(),
        p99: r.latency.p99,
        achievedRate: r.achievedRate,
      };
      fig.samples.push(sample);
      for (const p of pipe.problems()) if (!fig.problems.includes(p)) fig.problems.push(p);
      ctx.progress(
        `  soak minute ${minute}/${args.soakMinutes}: ${Math.round(r.achievedRate)} msg/s p99 ${r.latency.p99.toFixed(2)} ms${r.saturated ? ' SATURATED' : ''}, RSS ${sample.rss.map((x) => (x / 2 ** 20).toFixed(0)).join('/')} MiB, heap ${sample.heap.map((x) => (x / 2 ** 20).toFixed(0)).join('/')} MiB`,
      );
      if (fig.problems.length > 0) break;
    }
  });
}
