/**
 * Resume after reconnect (SPEC §11): a subscriber on node 2 with history on its
 * `/user/queue/chat` goes away; a sender on node 1 sends it 300 messages; it comes back (a new
 * session) and SUBSCRIBEs with `x-resume-epoch`/`x-resume-offset`. The figure is the time from
 * sending that SUBSCRIBE to the 300th missed message arriving, every offset once.
 */
import { header } from '../../../protocol/index.js';
import { startProduct, withCleanup, type BenchContext } from '../context.js';
import { LeanStompClient } from '../lean-stomp-client.js';

const MISSED = 300;

export async function resume(ctx: BenchContext): Promise<void> {
  await withCleanup(async (defer) => {
    const cluster = await startProduct(ctx, 'res', 2, 'cluster', {
      HISTORY_DESTINATIONS: '/user/queue/chat',
      HISTORY_SIZE: String(MISSED),
    });
    defer(() => cluster.stop());
    const sender = await LeanStompClient.connect({ url: cluster.wsUrl(0), login: 'bench-s' });
    defer(() => sender.close());
    const times: number[] = [];
    const runs = Math.max(5, ctx.args.runs);
    for (let r = 0; r < runs; r++) {
      const away = await LeanStompClient.connect({ url: cluster.wsUrl(1), login: 'bench-r' });
      const receipt = await away.subscribe('/user/queue/chat', 'sub-0');
      const epoch = header(receipt, 'x-epoch');
      const offset = Number(header(receipt, 'x-offset'));
      if (!epoch || !Number.isSafeInteger(offset))
        throw new Error('the RECEIPT of a SUBSCRIBE with history carries no x-epoch / x-offset');
      await away.close();

      const body = Buffer.alloc(100, 'x');
      for (let i = 0; i < MISSED - 1; i++) sender.send('/user/bench-r/queue/chat', body);
      await sender.withReceipt((id) => sender.send('/user/bench-r/queue/chat', body, [['receipt', id]]));

      const back = await LeanStompClient.connect({ url: cluster.wsUrl(1), login: 'bench-r' });
      const seen = new Set<number>();
      let done: () => void = () => undefined;
      const all = new Promise<void>((resolve) => (done = resolve));
      back.onMessage = (f) => {
        const o = Number(header(f, 'x-offset'));
        if (o > offset && o <= offset + MISSED) seen.add(o);
        if (seen.size === MISSED) done();
      };
      const t0 = performance.now();
      const answer = await back.subscribe('/user/queue/chat', 'sub-0', 10_000, [
        ['x-resume-epoch', epoch],
        ['x-resume-offset', String(offset)],
      ]);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        all,
        new Promise(
          (_, reject) =>
            (timer = setTimeout(
              () => reject(new Error(`resume run ${r + 1}: ${seen.size} of ${MISSED} missed messages after 10 s`)),
              10_000,
            )),
        ),
      ]);
      clearTimeout(timer);
      const ms = performance.now() - t0;
      times.push(ms);
      ctx.progress(
        `  resume of ${MISSED} missed messages, run ${r + 1}/${runs}: ${ms.toFixed(1)} ms from SUBSCRIBE to the last (x-recovered: ${header(answer, 'x-recovered') ?? '—'})`,
      );
      // The messages stored for the offline user went out with this subscription too; start the next run clean.
      await back.close();
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] as number;
    const line = `Resume of ${MISSED} missed messages (100 B, history in Redis, two nodes): median ${median.toFixed(1)} ms, max ${(times.at(-1) as number).toFixed(1)} ms from the SUBSCRIBE to the last of them, over ${runs} runs (target ≤ 100 ms).`;
    ctx.notes.push(line);
    ctx.progress(`  ${line}`);
  });
}
