/**
 * Scenario 6, the floors. Each product scenario measures its own floor in the same run,
 * interleaved run by run with the product; this scenario adds raw amqplib publish → consume
 * (in this process: both ends are clients), and, when run alone, every other floor too.
 */
import { measureMsg, msgFigure, warmUp, withCleanup, type BenchContext } from '../context.js';
import { AmqpFloorPipe } from '../floors/amqp-floor.js';

export async function amqpFloor(ctx: BenchContext): Promise<void> {
  await withCleanup(async (defer) => {
    const pipe = await AmqpFloorPipe.open(ctx.args.amqpUrl, `${ctx.runId}-s6.`);
    defer(() => pipe.close());
    for (const size of ctx.args.sizes) {
      const fig = msgFigure(ctx, 'floor.amqp', 'amqplib publish→consume', size);
      await warmUp(ctx, pipe, size);
      for (let r = 0; r < ctx.args.runs; r++) await measureMsg(ctx, fig, pipe, [], r);
    }
  });
}
