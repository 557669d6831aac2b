/**
 * Scenario 4: POST /api/users/{id}/messages to node 1 for a user whose session is on node 2
 * (cluster mode). Latency is from the request to the MESSAGE at the user's client. Floor: the
 * relay floor's POST /push/{id} (HTTP in → amqplib → ws out, route cached).
 */
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
import { HttpPushPipe, openRaw, postJson, receiveRaw, receiveStomp } from '../pipes.js';

export async function httpPush(ctx: BenchContext, floorOnly = false): Promise<void> {
  await withCleanup(async (defer) => {
    const floors = await startFloors(ctx, 's4f', 'relay-floor.ts', 2);
    defer(() => floors.stop());
    const [f1, f2] = floors.nodes;
    await postJson(`${f1!.http}/routes`, { 'bench-b': floors.nodeIds[1] });
    const rb = await openRaw(`ws://127.0.0.1:${f2!.port}/ws?user=bench-b`);
    defer(() => rb.terminate());
    const floorPipe = new HttpPushPipe(f1!.port, '/push/bench-b', '/queue/chat', () => []);
    defer(() => floorPipe.close());
    receiveRaw(rb, floorPipe);
    const floorPids = floors.nodes.map((n) => n.pid);

    let product: { pipe: HttpPushPipe; pids: number[] } | undefined;
    if (!floorOnly) {
      const cluster = await startProduct(ctx, 's4', 2, 'cluster');
      defer(() => cluster.stop());
      const b = await LeanStompClient.connect({ url: cluster.wsUrl(1), login: 'bench-b' });
      defer(() => b.close());
      const pipe = new HttpPushPipe(
        cluster.nodes[0]!.port,
        '/api/users/bench-b/messages',
        '/queue/chat',
        () => b.problems,
      );
      defer(() => pipe.close());
      receiveStomp(b, pipe);
      await b.subscribe('/user/queue/chat', 'sub-0');
      product = { pipe, pids: cluster.nodes.map((n) => n.pid) };
    }

    for (const size of ctx.args.sizes) {
      const ff = msgFigure(ctx, 'floor.http', 'HTTP→amqplib→ws, 2 procs', size);
      const pf = product ? msgFigure(ctx, 'http', 'S4 HTTP push to other node', size, 'floor.http') : undefined;
      await warmUp(ctx, floorPipe, size);
      if (product) await warmUp(ctx, product.pipe, size);
      for (let r = 0; r < ctx.args.runs; r++) {
        await measureMsg(ctx, ff, floorPipe, floorPids, r);
        if (product && pf) await measureMsg(ctx, pf, product.pipe, product.pids, r);
      }
    }
  });
}
