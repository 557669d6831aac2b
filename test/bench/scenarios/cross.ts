/**
 * Scenario 2: two nodes in cluster mode (real Redis and RabbitMQ), A on node 1, B on node 2:
 * SEND /user/B/queue/chat, and the seed's SEND /app/chat/A/C/{docId} to C on node 2.
 * Floor: ws in → amqplib → ws out between two bare processes, registry lookup cached.
 */
import { measureMsg, msgFigure, startFloors, startProduct, warmUp, withCleanup, type BenchContext } from '../context.js';
import { LeanStompClient } from '../lean-stomp-client.js';
import { openRaw, RawSendPipe, receiveRaw, receiveStomp, StompSendPipe } from '../pipes.js';

export async function cross(ctx: BenchContext, floorOnly = false): Promise<void> {
  await withCleanup(async (defer) => {
    const floors = await startFloors(ctx, 's2f', 'relay-floor.ts', 2);
    defer(() => floors.stop());
    const [f1, f2] = floors.nodes as [typeof floors.nodes[0], typeof floors.nodes[0]];
    await postJson(`${f1!.http}/routes`, { 'bench-b': floors.nodeIds[1] });
    const rb = await openRaw(`ws://127.0.0.1:${f2!.port}/ws?user=bench-b`);
    const ra = await openRaw(`ws://127.0.0.1:${f1!.port}/ws?user=bench-a&to=bench-b`);
    defer(() => { ra.terminate(); rb.terminate(); });
    const floorPipe = new RawSendPipe(ra, [rb]);
    receiveRaw(rb, floorPipe);
    const floorPids = floors.nodes.map((n) => n.pid);

    let product: { user: StompSendPipe; chat: StompSendPipe; pids: number[] } | undefined;
    if (!floorOnly) {
      const cluster = await startProduct(ctx, 's2', 2, 'cluster');
      defer(() => cluster.stop());
      const a = await LeanStompClient.connect({ url: cluster.wsUrl(0), login: 'bench-a' });
      const b = await LeanStompClient.connect({ url: cluster.wsUrl(1), login: 'bench-b' });
      const c = await LeanStompClient.connect({ url: cluster.wsUrl(1), login: 'bench-c' });
      defer(() => Promise.all([a.close(), b.close(), c.close()]));
      const user = new StompSendPipe(a, '/user/bench-b/queue/chat', [b]);
      receiveStomp(b, user);
      await b.subscribe('/user/queue/chat', 'sub-0');
      const chat = new StompSendPipe(a, '/app/chat/bench-a/bench-c/doc-1', [c]);
      receiveStomp(c, chat, 'chat');
      await c.subscribe('/user/doc-1/queue/chat', 'sub-0');
      product = { user, chat, pids: cluster.nodes.map((n) => n.pid) };
    }

    for (const size of ctx.args.sizes) {
      const ff = msgFigure(ctx, 'floor.relay', 'ws→amqplib→ws, 2 procs', size);
      const uf = product ? msgFigure(ctx, 'cross.user', 'S2 cross node user→user', size, 'floor.relay') : undefined;
      const cf = product ? msgFigure(ctx, 'cross.chat', 'S2 cross node /app/chat', size, 'floor.relay') : undefined;
      await warmUp(ctx, floorPipe, size);
      if (product) {
        await warmUp(ctx, product.user, size);
        await warmUp(ctx, product.chat, size);
      }
      for (let r = 0; r < ctx.args.runs; r++) {
        await measureMsg(ctx, ff, floorPipe, floorPids, r);
        if (product && uf && cf) {
          await measureMsg(ctx, uf, product.user, product.pids, r);
          await measureMsg(ctx, cf, product.chat, product.pids, r);
        }
      }
    }
  });
}

export async function postJson(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status}`);
  await res.arrayBuffer();
}
