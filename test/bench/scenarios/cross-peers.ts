/**
 * What S2 is set beside, each in two processes of its own: the relay floor (ws → amqplib → ws, as
 * RabbitMQ is used by the product, or DURABILITY=transient: the at-most-once stack a user writes),
 * and the Socket.IO peer (two Socket.IO nodes on @socket.io/redis-adapter, socket.io-client
 * sockets in this process). A on the first process sends to B on the second, as in S2.
 */
import { awaitPath, startFloors, type BenchContext } from '../context.js';
import { openRaw, postJson, RawSendPipe, receiveRaw } from '../pipes.js';
import { connectSocketIo, SocketIoSendPipe } from '../socketio-pipe.js';

type Defer = (f: () => Promise<unknown> | void) => void;

export interface PipeOnProcesses<P> {
  readonly pipe: P;
  readonly pids: number[];
}

export async function startRelayFloor(
  ctx: BenchContext,
  defer: Defer,
  label: string,
  durability: 'persistent' | 'transient',
  queueType: 'classic' | 'quorum' = 'classic',
): Promise<PipeOnProcesses<RawSendPipe>> {
  const floors = await startFloors(ctx, label, 'relay-floor.ts', 2, {
    env: { DURABILITY: durability, QUEUE_TYPE: queueType },
  });
  defer(() => floors.stop());
  const [f1, f2] = floors.nodes;
  await postJson(`${f1!.http}/routes`, { 'bench-b': floors.nodeIds[1] });
  const rb = await openRaw(`ws://127.0.0.1:${f2!.port}/ws?user=bench-b`);
  const ra = await openRaw(`ws://127.0.0.1:${f1!.port}/ws?user=bench-a&to=bench-b`);
  defer(() => {
    ra.terminate();
    rb.terminate();
  });
  const pipe = new RawSendPipe(ra, [rb]);
  receiveRaw(rb, pipe);
  return { pipe, pids: floors.nodes.map((n) => n.pid) };
}

export async function startSocketIoPeer(
  ctx: BenchContext,
  defer: Defer,
  label: string,
): Promise<PipeOnProcesses<SocketIoSendPipe>> {
  // The adapter's pub/sub channels start with this; it stores no keys, but any under it are deleted.
  const key = `${ctx.runId}-${label}`;
  const peers = await startFloors(ctx, label, 'socketio-peer.ts', 2, { env: { SIO_KEY: key }, redisKeyPrefix: key });
  defer(() => peers.stop());
  const [p1, p2] = peers.nodes;
  const b = await connectSocketIo(`http://127.0.0.1:${p2!.port}`, 'bench-b');
  const a = await connectSocketIo(`http://127.0.0.1:${p1!.port}`, 'bench-a');
  const pipe = new SocketIoSendPipe(a, 'bench-b', [b]);
  defer(() => pipe.close());
  await awaitPath(pipe, 'Socket.IO peer');
  return { pipe, pids: peers.nodes.map((n) => n.pid) };
}
