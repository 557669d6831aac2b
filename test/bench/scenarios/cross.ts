/**
 * Scenario 2: two nodes in cluster mode (real Redis and RabbitMQ), A on node 1, B on node 2:
 * SEND /user/B/queue/chat, and the seed's SEND /app/chat/A/C/{docId} to C on node 2.
 * Floor: ws in → amqplib → ws out between two bare processes, registry lookup cached.
 * Beside it (unless --no-peers), what users would pick instead, interleaved run by run: the
 * transient floor, Socket.IO + Redis adapter, and S2 user → user with @stomp/stompjs clients.
 */
import {
  measureMsg,
  msgFigure,
  rabbitIdleShare,
  startProduct,
  warmUp,
  withCleanup,
  type BenchContext,
} from '../context.js';
import { LeanStompClient } from '../lean-stomp-client.js';
import type { SizedPipe } from '../pipes.js';
import { receiveStomp, StompSendPipe } from '../pipes.js';
import { StompJsClient, StompJsSendPipe } from '../stompjs-pipe.js';
import { startRelayFloor, startSocketIoPeer } from './cross-peers.js';

/** One system measured in S2: its pipe, the processes whose CPU is its, and its figure. */
export interface Entry {
  readonly id: string;
  readonly label: string;
  readonly floor?: string;
  readonly pipe: SizedPipe;
  readonly pids: readonly number[];
  /** The product nodes' HTTP roots (their batch sizes are read around each run). */
  readonly nodeUrls?: readonly string[];
}

type Defer = (f: () => Promise<unknown> | void) => void;

/** Two product nodes of their own (`env` over the bench's) with one lean sender on the first and its recipient on the second. */
export async function userHop(
  ctx: BenchContext,
  defer: Defer,
  label: string,
  env: Record<string, string>,
): Promise<Pick<Entry, 'pipe' | 'pids' | 'nodeUrls'>> {
  const product = await startProduct(ctx, label, 2, 'cluster', env);
  defer(() => product.stop());
  const from = await LeanStompClient.connect({ url: product.wsUrl(0), login: 'bench-a' });
  const to = await LeanStompClient.connect({ url: product.wsUrl(1), login: 'bench-b' });
  defer(() => Promise.all([from.close(), to.close()]));
  const pipe = new StompSendPipe(from, '/user/bench-b/queue/chat', [to]);
  receiveStomp(to, pipe);
  await to.subscribe('/user/queue/chat', 'sub-0');
  return { pipe, pids: product.nodes.map((n) => n.pid), nodeUrls: [product.httpUrl(0), product.httpUrl(1)] };
}

/** Warm-up, then `runs` interleaved runs of every entry, per body size. */
export async function measureEntries(ctx: BenchContext, entries: readonly Entry[]): Promise<void> {
  for (const size of ctx.args.sizes) {
    const figs = entries.map((e) => msgFigure(ctx, e.id, e.label, size, e.floor));
    for (const e of entries) await warmUp(ctx, e.pipe, size);
    for (let r = 0; r < ctx.args.runs; r++) {
      for (const [i, e] of entries.entries()) await measureMsg(ctx, figs[i]!, e.pipe, e.pids, r, e.nodeUrls);
    }
  }
}

export async function cross(ctx: BenchContext, floorOnly = false): Promise<void> {
  await withCleanup(async (defer) => {
    const entries: Entry[] = [];
    const persistent = await startRelayFloor(ctx, defer, 's2f', 'persistent');
    entries.push({ id: 'floor.relay', label: 'ws→amqplib→ws, 2 procs', ...persistent });
    if (ctx.args.peers) {
      const transient = await startRelayFloor(ctx, defer, 's2t', 'transient');
      entries.push({ id: 'floor.transient', label: 'ws→amqplib→ws transient, 2 procs', ...transient });
      const sio = await startSocketIoPeer(ctx, defer, 's2io');
      entries.push({ id: 'peer.socketio', label: 'Socket.IO + Redis adapter, 2 nodes', ...sio });
    }

    if (!floorOnly) {
      // Classic node queues, as the floors use; the quorum figure below says what the default costs.
      const cluster = await startProduct(ctx, 's2', 2, 'cluster', { RELAY_QUEUE_TYPE: 'classic' });
      defer(() => cluster.stop());
      const pids = cluster.nodes.map((n) => n.pid);
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
      const nodeUrls = [cluster.httpUrl(0), cluster.httpUrl(1)];
      entries.push({
        id: 'cross.user',
        label: 'S2 cross node user→user',
        floor: 'floor.relay',
        pipe: user,
        pids,
        nodeUrls,
      });
      // The same hop with history on for the recipient's destination (the resume extension's cost),
      // and on the default node queues: quorum (replicated over a RabbitMQ cluster; here one member).
      const historied = await userHop(ctx, defer, 's2h', {
        HISTORY_DESTINATIONS: '/user/queue/chat',
        RELAY_QUEUE_TYPE: 'classic',
      });
      entries.push({ id: 'cross.user.history', label: 'S2 user→user, history on', floor: 'floor.relay', ...historied });
      entries.push({
        id: 'cross.chat',
        label: 'S2 cross node /app/chat',
        floor: 'floor.relay',
        pipe: chat,
        pids,
        nodeUrls,
      });
      const quorum = await userHop(ctx, defer, 's2q', {});
      entries.push({ id: 'cross.user.quorum', label: 'S2 user→user, quorum queues', floor: 'floor.relay', ...quorum });
      if (ctx.args.peers) {
        const d = await StompJsClient.connect(cluster.wsUrl(0), 'bench-d');
        const e = await StompJsClient.connect(cluster.wsUrl(1), 'bench-e');
        defer(() => Promise.all([d.close(), e.close()]));
        const pipe = new StompJsSendPipe(d, '/user/bench-e/queue/chat', [e]);
        await pipe.receiveOn(e, '/user/queue/chat');
        entries.push({
          id: 'cross.stompjs',
          label: 'S2 user→user, @stomp/stompjs clients',
          floor: 'floor.relay',
          pipe,
          pids,
          nodeUrls,
        });
      }
    }

    if (ctx.args.peers) {
      const idle = await rabbitIdleShare(ctx);
      ctx.notes.push(
        `RabbitMQ (beam.smp) used ${(idle * 100).toFixed(1)} % of a core while S2 was connected and idle: other users of the broker; it counts in every "RabbitMQ µs/msg".`,
      );
      ctx.progress(`  RabbitMQ while idle: ${(idle * 100).toFixed(1)} % of a core`);
    }
    await measureEntries(ctx, entries);
  });
}
