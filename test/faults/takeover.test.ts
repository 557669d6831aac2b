import { expect } from 'chai';
import { RabbitBroker } from '../../server/broker/rabbit-broker.js';
import {
  spawnNode,
  startCluster,
  uniqueUsers,
  type Cluster,
  type ClusterNode,
  type Spawned,
} from '../helpers/cluster.js';
import { requireService, TEST_AMQP_URL } from '../helpers/services.js';
import { connectClient, type TestClient } from '../helpers/stomp-client.js';
import { delay, waitFor } from '../helpers/wait.js';
import { useProxiedCluster } from './proxied.js';

/** Messages left in the dead node's queue: enough that re-routing them takes a few seconds. */
const LEFT = 20_000;

/** Leaves LEFT messages for `user` in the queue of the dead node `nodeId`: sent by a broker of the test's own. */
async function leaveMessages(nodeId: string, user: string, amqpPrefix: string): Promise<void> {
  const filler = new RabbitBroker({ url: TEST_AMQP_URL, nodeId: `${nodeId}-filler`, namePrefix: amqpPrefix });
  await filler.start(() => undefined);
  const sent: Promise<void>[] = [];
  for (let i = 0; i < LEFT; i++) {
    sent.push(
      filler.sendToNodes([nodeId], {
        id: `left-${i}`,
        target: { kind: 'user', user },
        destination: '/queue/left',
        headers: [],
        body: Buffer.from(String(i)),
        origin: filler.nodeId,
        sentAt: Date.now(),
      }),
    );
  }
  await Promise.all(sent);
  await filler.adoptQueue(filler.nodeId, async () => undefined); // its own queue, empty: deleted
  await filler.close();
}

/**
 * A node killed and started again while another node is taking its old queue over (the sweep
 * found it dead; re-routing what it left takes a while). The takeover ends by deleting that queue:
 * had the restarted node declared its queue meanwhile, it would be left consuming nothing, and its
 * users' messages would go unroutable. It waits for the takeover instead (SPEC §8), then declares
 * a fresh queue.
 */
describe('faults: a node restarted while its old queue is being taken over', function () {
  this.timeout(120_000);
  let cluster: Cluster | undefined;
  let restarted: Spawned | undefined;
  const clients: TestClient[] = [];

  before(async function () {
    await requireService(this, 'redis');
    await requireService(this, 'rabbitmq');
    cluster = await startCluster(2, { NODE_TTL_MS: '1000' });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.disconnect().catch(() => undefined)));
    if (restarted && restarted.child.exitCode === null) {
      restarted.child.kill('SIGKILL');
      await restarted.exited;
    }
    await cluster?.stop();
  });

  it('waits for the takeover to end before it declares its queue, then receives its users’ messages', async () => {
    const c = cluster!;
    const [n1, n2] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
    await n2.kill('SIGKILL');

    // Fill the dead node's queue, as senders would have before the sweep.
    const [GONE] = uniqueUsers('GONE');
    await leaveMessages(n2.nodeId, GONE, c.amqpPrefix);

    await waitFor(() => n1.logs().some((l) => l.includes('swept dead nodes')), 'node 1 to sweep node 2', 10_000, 20);
    restarted = spawnNode(n2.nodeId, { ...n2.env }, 60_000);
    const port = await restarted.ready;

    const [S, R] = uniqueUsers('S', 'R');
    const r = await connectClient(`ws://127.0.0.1:${port}/ws`, { login: R });
    clients.push(r);
    const inbox = await r.subscribeWithReceipt('/user/queue/after');
    const s = await c.connect(n1, S);
    for (let i = 0; i < 20; i++) await s.sendWithReceipt(`/user/${R}/queue/after`, `m${i}`);
    const got = await inbox.wait(20, 10_000);
    expect(got.map((m) => m.body)).to.deep.equal(Array.from({ length: 20 }, (_, i) => `m${i}`));
    // It waited, and said "ready" only once node 1 was done with the old queue.
    expect(restarted.lines.some((l) => l.includes("taking over this node's old queue; waiting"))).to.equal(true);
    expect(n1.logs().some((l) => l.includes('adopted a node queue'))).to.equal(true);
  });
});

/**
 * A takeover cut short: the node taking over a dead node's queue loses RabbitMQ mid-way. The sweep
 * that found the dead node will not find it again (it is out of the registry), so the node keeps
 * its claim and tries the takeover again once RabbitMQ is back: what the dead node left still
 * reaches its users (SPEC §8).
 */
describe('faults: a queue takeover interrupted by a lost RabbitMQ connection', function () {
  this.timeout(120_000);
  const clients: { stop(): Promise<void> }[] = [];
  const { cluster, proxies } = useProxiedCluster(2, 'rabbitmq', clients, {
    env: { NODE_TTL_MS: '1000', LOG_LEVEL: 'info' },
  });
  let receiver: TestClient | undefined;

  before(async function () {
    await requireService(this, 'rabbitmq');
  });

  after(async () => {
    await receiver?.disconnect().catch(() => undefined);
  });

  it('tries the takeover again until the dead node’s queue has reached its users', async () => {
    const [n1, n2] = cluster.nodes as [ClusterNode, ClusterNode];
    const [R] = uniqueUsers('R');
    receiver = await cluster.connect(n1, R);
    const inbox = await receiver.subscribeWithReceipt('/user/queue/left');
    await n2.kill('SIGKILL');

    // What node 2 would have delivered to R, had it lived: left in its queue.
    await leaveMessages(n2.nodeId, R, cluster.amqpPrefix);

    // Node 1 sweeps node 2 and starts taking its queue over; its RabbitMQ link is cut mid-way.
    await waitFor(() => n1.logs().some((l) => l.includes('swept dead nodes')), 'node 1 to sweep node 2', 10_000, 10);
    await waitFor(() => inbox.messages.length > 0, 'the takeover to begin', 10_000, 5);
    proxies[0]!.cut();
    await delay(1_000);
    proxies[0]!.restore();

    await waitFor(
      () => new Set(inbox.messages.map((m) => m.body)).size === LEFT,
      `all ${LEFT} left messages`,
      60_000,
      100,
    );
    expect(n1.logs().some((l) => l.includes('queue failed; trying again'))).to.equal(true);
    // The emptied queue is left last.
    await waitFor(() => n1.logs().some((l) => l.includes('adopted a node queue')), 'the takeover to end', 10_000, 50);
  });
});
