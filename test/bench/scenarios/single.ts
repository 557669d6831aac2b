/** Scenario 1: one node (embedded), A sends to /user/B/queue/chat, B receives; floor: raw ws echo. */
import {
  measureMsg,
  msgFigure,
  startFloors,
  startProduct,
  warmUp,
  withCleanup,
  type BenchContext,
} from '../context.js';
import { LeanStompClient } from '../lean-stomp-client.js';
import { openRaw, RawSendPipe, receiveRaw, receiveStomp, StompSendPipe } from '../pipes.js';

export async function single(ctx: BenchContext, floorOnly = false): Promise<void> {
  await withCleanup(async (defer) => {
    const floor = await startFloors(ctx, 's1f', 'ws-floor.ts', 1);
    defer(() => floor.stop());
    const echo = await openRaw(`ws://127.0.0.1:${floor.nodes[0]!.port}/echo`);
    defer(() => echo.terminate());
    const floorPipe = new RawSendPipe(echo, [echo]);
    receiveRaw(echo, floorPipe);

    let product: { pipe: StompSendPipe; pid: number } | undefined;
    if (!floorOnly) {
      const cluster = await startProduct(ctx, 's1', 1, 'embedded');
      defer(() => cluster.stop());
      const a = await LeanStompClient.connect({ url: cluster.wsUrl(0), login: 'bench-a' });
      const b = await LeanStompClient.connect({ url: cluster.wsUrl(0), login: 'bench-b' });
      defer(() => Promise.all([a.close(), b.close()]));
      const pipe = new StompSendPipe(a, '/user/bench-b/queue/chat', [b]);
      receiveStomp(b, pipe);
      await b.subscribe('/user/queue/chat', 'sub-0');
      product = { pipe, pid: cluster.nodes[0]!.pid };
    }

    for (const size of ctx.args.sizes) {
      const ff = msgFigure(ctx, 'floor.echo', 'raw ws echo', size);
      const pf = product ? msgFigure(ctx, 'single', 'S1 single node user→user', size, 'floor.echo') : undefined;
      await warmUp(ctx, floorPipe, size);
      if (product) await warmUp(ctx, product.pipe, size);
      for (let r = 0; r < ctx.args.runs; r++) {
        await measureMsg(ctx, ff, floorPipe, [floor.nodes[0]!.pid], r);
        if (product && pf) await measureMsg(ctx, pf, product.pipe, [product.pid], r);
      }
    }
  });
}
