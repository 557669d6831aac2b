/**
 * A reconnect storm: three cluster nodes, N sessions on node A (each subscribed to its document's
 * chat and presence, documents of 10 users, held by child processes), then kill -9 of node A.
 * Every session reconnects to B or C after a jittered back-off and subscribes again. Measured:
 * the time until every session is subscribed again and until the documents' presence is right
 * again (sampled over the HTTP API), Redis commands per reconnect, the event-loop delay of B and C
 * (prom-client's p99 and max over 2 s windows: a scrape of /metrics at 15,000 sessions stalls a
 * node ~10 ms itself, so faster sampling would measure the bench), and that every user message
 * accepted during the storm reaches its user (a sender on B writes to every tenth user, 200/s).
 */
import path from 'node:path';
import { Redis } from 'ioredis';
import { startProduct, withCleanup, type BenchContext } from '../context.js';
import { LeanStompClient } from '../lean-stomp-client.js';
import { sleep } from '../load.js';
import { rabbitPids, REPO_ROOT, spawnChild, sumCpu, type BenchChild } from '../processes.js';

const PER_HOLDER = 7_500;
const SEND_RATE = 200;

/** Calls per Redis command so far (INFO commandstats), `evalsha`/`eval` included as such. */
async function redisCommands(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    calls.set(m[1]!, Number(m[2]));
  return calls;
}

function commandsSince(before: Map<string, number>, after: Map<string, number>): { total: number; top: string } {
  const delta = [...after]
    .map(([name, n]) => [name, n - (before.get(name) ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .sort((x, y) => y[1] - x[1]);
  return {
    total: delta.reduce((sum, [, n]) => sum + n, 0),
    top: delta
      .slice(0, 6)
      .map(([name, n]) => `${name} ${n}`)
      .join(', '),
  };
}

async function loopDelay(node: BenchChild): Promise<{ p99: number; max: number }> {
  try {
    const text = await (await fetch(`${node.http}/metrics`)).text();
    const read = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) * 1000;
    return { p99: read('nodejs_eventloop_lag_p99_seconds'), max: read('nodejs_eventloop_lag_max_seconds') };
  } catch {
    return { p99: NaN, max: NaN };
  }
}

/** What a node sent so far: AMQP messages published (relay batches) and MESSAGE frames to its sessions. */
async function nodeOutput(node: BenchChild): Promise<{ publishes: number; messages: number }> {
  try {
    const text = await (await fetch(`${node.http}/metrics`)).text();
    const read = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0); // a series not written yet is 0
    return {
      publishes: read(/^stomp_relay_batch_size_count(?:\{[^}]*\})? (\S+)/m),
      messages: read(/^stomp_frames_out_total\{command="MESSAGE"\} (\S+)/m),
    };
  } catch {
    return { publishes: NaN, messages: NaN };
  }
}

export async function storm(ctx: BenchContext): Promise<void> {
  const sessions = ctx.args.stormSessions;
  await withCleanup(async (defer) => {
    const product = await startProduct(ctx, 'storm', 3, 'cluster', { NODE_TTL_MS: '3000' });
    defer(() => product.stop());
    const [a, b, c] = product.nodes as [BenchChild, BenchChild, BenchChild];
    const urls = [0, 1, 2].map((i) => product.wsUrl(i)).join(',');
    const holderCount = Math.ceil(sessions / PER_HOLDER);
    const resubscribedMs: number[] = [];
    const closing: {
      chatDistinct: number;
      chatTotal: number;
      retries: number;
      closedEarly: number;
      problems: string[];
    }[] = [];
    const t0 = performance.now();
    const holders = await Promise.all(
      Array.from({ length: holderCount }, (_, h) =>
        spawnChild({
          name: `storm-clients-${h + 1}`,
          args: ['--import', 'tsx', path.join(REPO_ROOT, 'test/bench/storm-clients.ts')],
          env: {
            URLS: urls,
            COUNT: String(Math.min(PER_HOLDER, sessions - h * PER_HOLDER)),
            LOGIN_PREFIX: `storm${h}`,
          },
          noPort: true,
          startTimeoutMs: 300_000,
          onJson: (e) => {
            if (e.msg === 'resubscribed') resubscribedMs.push(Number(e.ms));
            if (e.msg === 'closing') closing.push(e as unknown as (typeof closing)[number]);
          },
        }),
      ),
    );
    defer(() => Promise.all(holders.map((x) => x.stop())));
    const connectSeconds = (performance.now() - t0) / 1000;
    ctx.progress(
      `  storm: ${sessions.toLocaleString('en-US')} sessions on node A in ${connectSeconds.toFixed(1)} s (${Math.round(sessions / connectSeconds)}/s)`,
    );

    // Every tenth user of the storm gets numbered chat messages from a sender on B, across the kill.
    const sender = await LeanStompClient.connect({ url: product.wsUrl(1), login: 'storm-sender' });
    defer(() => sender.close());
    const targets = Array.from({ length: sessions }, (_, i) => i)
      .filter((i) => i % 10 === 0)
      .map((i) => {
        const h = Math.floor(i / PER_HOLDER);
        const k = i % PER_HOLDER;
        return { user: `storm${h}-${k}`, doc: `storm${h}-d${Math.floor(k / 10)}` };
      });
    let accepted = 0;
    let sending = true;
    const sent = (async () => {
      for (let seq = 0; sending; seq++) {
        const t = targets[seq % targets.length]!;
        await sender.withReceipt(
          (r) => sender.send(`/user/${t.user}/${t.doc}/queue/chat`, Buffer.from(`m${seq}`), [['receipt', r]]),
          30_000,
        );
        accepted++;
        await sleep(1000 / SEND_RATE);
      }
    })();
    await sleep(2000);

    const redis = new Redis(ctx.args.redisUrl);
    defer(() => redis.quit());
    const commands0 = await redisCommands(redis);
    const delays: { p99: number; max: number }[] = [];
    let monitoring = true;
    const monitor = (async () => {
      while (monitoring) {
        for (const n of [b, c]) delays.push(await loopDelay(n));
        await sleep(2000);
      }
    })();

    // CPU per reconnect, by process group: steadier than the wall-clock figures on a shared machine.
    const groups = {
      'B and C': [b.pid, c.pid],
      Redis: [Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1])],
      RabbitMQ: rabbitPids(ctx.args.amqpUrl),
      clients: holders.map((x) => x.pid),
    };
    const cpu0 = Object.values(groups).map(sumCpu);
    const output0 = await Promise.all([b, c].map(nodeOutput));
    for (const h of holders) h.process.kill('SIGUSR2');
    await sleep(100);
    const killedAt = performance.now();
    a.process.kill('SIGKILL');
    ctx.progress('  storm: node A killed (SIGKILL)');
    const deadline = killedAt + 120_000;
    while (resubscribedMs.length < holderCount && performance.now() < deadline) await sleep(100);
    const allBackMs = resubscribedMs.length === holderCount ? Math.max(...resubscribedMs) : NaN;
    // Counted up to here: the presence sampling below is the bench's own load.
    const commands = commandsSince(commands0, await redisCommands(redis));
    const output = await Promise.all([b, c].map(nodeOutput));
    const perReconnect = (k: 'publishes' | 'messages') =>
      (output.reduce((n, o, i) => n + o[k] - output0[i]![k], 0) / sessions).toFixed(1);
    const cpuPerReconnect = Object.keys(groups)
      .map((name, i) => `${name} ${((sumCpu(Object.values(groups)[i]!) - cpu0[i]!) / 1000 / sessions).toFixed(2)}`)
      .join(', ');

    // Presence: sampled documents list their 10 users, none of them on the dead node.
    const sample = Array.from({ length: Math.min(50, Math.floor(sessions / 10)) }, (_, k) => {
      const i = Math.floor((k * sessions) / Math.min(50, Math.floor(sessions / 10)) / 10) * 10;
      return `storm${Math.floor(i / PER_HOLDER)}-d${Math.floor((i % PER_HOLDER) / 10)}`;
    });
    let presenceMs = NaN;
    while (performance.now() < deadline) {
      let right = 0;
      for (const doc of sample) {
        const { users } = (await (await fetch(`${b.http}/api/docs/${doc}/presence`)).json()) as {
          users: { node: string }[];
        };
        if (users.length === 10 && users.every((u) => u.node !== product.nodeIds[0])) right++;
      }
      if (right === sample.length) {
        presenceMs = performance.now() - killedAt;
        break;
      }
      await sleep(250);
    }
    monitoring = false;
    await monitor;
    sending = false;
    await sent;
    await sleep(3000);
    await Promise.all(holders.map((x) => x.stop()));
    const received = closing.reduce((n, x) => n + x.chatDistinct, 0);
    const copies = closing.reduce((n, x) => n + x.chatTotal, 0);
    const retries = closing.reduce((n, x) => n + x.retries, 0);
    const p99s = delays
      .map((d) => d.p99)
      .filter(Number.isFinite)
      .sort((x, y) => x - y);
    const maxes = delays.map((d) => d.max).filter(Number.isFinite);
    const line =
      `Reconnect storm: ${sessions.toLocaleString('en-US')} sessions on node A (of 3), kill -9 of A: every session subscribed again on B or C ` +
      `${(allBackMs / 1000).toFixed(1)} s after the first close, presence of ${sample.length} sampled documents right ${(presenceMs / 1000).toFixed(1)} s after the kill ` +
      `(target ≤ 10 s, with 0.5–2.5 s of client back-off); ${(commands.total / sessions).toFixed(1)} Redis commands per reconnect from the kill until all were back (the machine's Redis, all callers, the sender's included: ${commands.top}); ` +
      `CPU per reconnect in ms from the kill until all were back: ${cpuPerReconnect}; ` +
      `B and C per reconnect: ${perReconnect('publishes')} AMQP messages published, ${perReconnect('messages')} MESSAGE frames written; ` +
      `event-loop delay of B and C: worst p99 ${(p99s.at(-1) ?? NaN).toFixed(0)} ms, worst max ${Math.max(...maxes).toFixed(0)} ms (target p99 ≤ 200 ms); ` +
      `${retries} reconnects refused and retried; user messages accepted ${accepted}, received ${received} distinct (${copies} copies): lost ${accepted - received}.`;
    ctx.notes.push(line);
    ctx.progress(`  ${line}`);
    const early = closing.reduce((n, x) => n + x.closedEarly, 0);
    if (early > 0)
      ctx.progress(`  ⚠ ${early} sessions closed before the kill: the figures above are not a clean storm`);
    for (const x of closing)
      if (x.problems.length > 0) ctx.progress(`  storm client problems: ${x.problems.join(' | ')}`);
  });
}
