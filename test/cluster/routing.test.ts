import { expect } from 'chai';
import amqp from 'amqplib';
import { uniqueUsers, unsubscribeWithReceipt, type ClusterNode, type MetricsSnapshot } from '../helpers/cluster.js';
import { TEST_AMQP_URL } from '../helpers/services.js';
import { useCluster } from '../helpers/use-cluster.js';

const PUBLISHED = 'stomp_relay_published_total';
const CONSUMED = 'stomp_relay_consumed_total';
const LOCAL = 'stomp_local_deliveries_total';
const DELIVERIES = 'stomp_deliveries_total';

/**
 * SPEC §1 and §5, measured the way an operator would: from /metrics deltas. A "fence" message,
 * sent from the same node after the one under test, proves a negative: RabbitMQ keeps the order
 * of one channel's messages to one queue and the node consumes one origin in order, so had the
 * first message reached the fenced node, it would have been counted before the fence arrived.
 */
describe('cluster: routing (only the nodes that need a message get it)', function () {
  const cluster = useCluster(3, {
    // CLUSTER_REPORT=1: what each node relayed over this whole suite, for a look at the routing.
    beforeStop: async (c) => {
      if (process.env.CLUSTER_REPORT) console.log(`\n${await c.relayReport()}`);
    },
  });
  let nodes: readonly ClusterNode[];
  let n1: ClusterNode;
  let n2: ClusterNode;
  let n3: ClusterNode;
  const snapshot = () => Promise.all(nodes.map((n) => n.metrics()));
  const delta = (
    before: MetricsSnapshot[],
    after: MetricsSnapshot[],
    i: number,
    name: string,
    labels: Record<string, string> = {},
  ) => after[i]!.value(name, labels) - before[i]!.value(name, labels);

  before(() => {
    nodes = cluster.nodes;
    [n1, n2, n3] = nodes as [ClusterNode, ClusterNode, ClusterNode];
  });

  it('declares the exchange {prefix}relay and one consumed queue {prefix}node.{nodeId} per node', async () => {
    const conn = await amqp.connect(TEST_AMQP_URL);
    try {
      const ch = await conn.createChannel();
      await ch.checkExchange(`${cluster.amqpPrefix}relay`);
      for (const n of nodes) {
        const q = await ch.checkQueue(`${cluster.amqpPrefix}node.${n.nodeId}`);
        expect(q.consumerCount, n.nodeId).to.equal(1);
      }
      await ch.close();
    } finally {
      await conn.close();
    }
  });

  it("publishes a message for B only to B's node: the third node consumes none of it", async () => {
    const [A, B, C] = uniqueUsers('A', 'B', 'C');
    const a = await cluster.connect(n1, A);
    const b = await cluster.connect(n3, B);
    const c = await cluster.connect(n2, C);
    const ib = await b.subscribeWithReceipt('/user/42/queue/chat');
    const ic = await c.subscribeWithReceipt('/user/42/queue/chat');
    const before = await snapshot();

    await a.sendWithReceipt(`/app/chat/${A}/${B}/42`, 'for B only');
    await ib.wait(1);
    const afterB = await snapshot();
    await a.sendWithReceipt(`/app/chat/${A}/${C}/42`, 'fence');
    await ic.wait(1);
    const after = await snapshot();

    // Node 1 published the chat once, to node 3 only.
    expect(delta(before, afterB, 0, PUBLISHED, { node: n3.nodeId })).to.equal(1);
    expect(delta(before, afterB, 0, PUBLISHED, { node: n2.nodeId })).to.equal(0);
    expect(delta(before, afterB, 0, LOCAL)).to.equal(0);
    // Node 3 consumed it; node 2 consumed only the fence sent to it afterwards.
    expect(delta(before, after, 2, CONSUMED, { origin: n1.nodeId, kind: 'user' })).to.equal(1);
    expect(delta(before, after, 1, CONSUMED, { origin: n1.nodeId, kind: 'user' })).to.equal(1);
    expect(delta(before, after, 1, DELIVERIES)).to.equal(1);
    expect(ic.bodies().map((m) => (JSON.parse(m) as { content: string }).content)).to.deep.equal(['fence']);
    // Node 1 never consumes what it sends to others.
    expect(delta(before, after, 0, CONSUMED)).to.equal(0);
  });

  it('sends a broadcast to the nodes with subscribers only: a node without any receives none of its traffic', async () => {
    const [A, B, C] = uniqueUsers('A', 'B', 'C');
    const topic = `/topic/prices.${A}`;
    const fenceTopic = `/topic/fence.${A}`;
    const a = await cluster.connect(n1, A);
    const c = await cluster.connect(n3, C);
    const b = await cluster.connect(n2, B);
    const ia = await a.subscribeWithReceipt(topic);
    const ic = await c.subscribeWithReceipt(topic);
    const fence = await b.subscribeWithReceipt(fenceTopic);
    const before = await snapshot();

    for (let i = 1; i <= 5; i++) await a.sendWithReceipt(topic, `tick ${i}`);
    await ia.wait(5);
    await ic.wait(5);
    await a.sendWithReceipt(fenceTopic, 'fence');
    await fence.wait(1);
    const after = await snapshot();

    expect(delta(before, after, 2, CONSUMED, { origin: n1.nodeId, kind: 'broadcast' })).to.equal(5);
    // Node 2 subscribes to the fence topic only: it consumed the fence and nothing else.
    expect(delta(before, after, 1, CONSUMED, { origin: n1.nodeId, kind: 'broadcast' })).to.equal(1);
    expect(delta(before, after, 1, DELIVERIES)).to.equal(1);
    expect(ia.bodies()).to.deep.equal(['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5']);
    expect(ic.bodies()).to.deep.equal(ia.bodies());
  });

  it('stops sending a topic to a node once its last subscriber there unsubscribed', async () => {
    const [A, C] = uniqueUsers('A', 'C');
    const topic = `/topic/alerts.${A}`;
    const a = await cluster.connect(n1, A);
    const c = await cluster.connect(n3, C);
    const ic = await c.subscribeWithReceipt(topic);
    await a.sendWithReceipt(topic, 'while subscribed');
    await ic.wait(1);
    await unsubscribeWithReceipt(c, ic.subscription);
    const fence = await c.subscribeWithReceipt(`${topic}.fence`);
    const before = await snapshot();

    await a.sendWithReceipt(topic, 'after the unsubscribe');
    await a.sendWithReceipt(`${topic}.fence`, 'fence');
    await fence.wait(1);
    const after = await snapshot();

    expect(delta(before, after, 2, CONSUMED, { origin: n1.nodeId, kind: 'broadcast' })).to.equal(1);
    expect(ic.bodies()).to.deep.equal(['while subscribed']);
  });

  it('delivers between two users of the same node with no broker hop', async () => {
    const [A, B] = uniqueUsers('A', 'B');
    const a = await cluster.connect(n2, A);
    const b = await cluster.connect(n2, B);
    const chat = await b.subscribeWithReceipt('/user/42/queue/chat');
    const direct = await b.subscribeWithReceipt('/user/queue/x');
    const before = await snapshot();

    await a.sendWithReceipt(`/app/chat/${A}/${B}/42`, 'same node');
    await a.sendWithReceipt(`/user/${B}/queue/x`, 'same node, direct');
    await chat.wait(1);
    await direct.wait(1);
    const after = await snapshot();

    expect(delta(before, after, 1, LOCAL)).to.equal(2);
    expect(delta(before, after, 1, DELIVERIES)).to.equal(2);
    for (let i = 0; i < nodes.length; i++) {
      expect(delta(before, after, i, PUBLISHED), `${nodes[i]!.nodeId} published`).to.equal(0);
      expect(delta(before, after, i, CONSUMED), `${nodes[i]!.nodeId} consumed`).to.equal(0);
    }
  });

  it('sends a message for a user on two nodes to exactly those two', async () => {
    const [A, B] = uniqueUsers('A', 'B');
    const a = await cluster.connect(n1, A);
    const b1 = await cluster.connect(n1, B);
    const b3 = await cluster.connect(n3, B);
    const i1 = await b1.subscribeWithReceipt('/user/queue/x');
    const i3 = await b3.subscribeWithReceipt('/user/queue/x');
    const before = await snapshot();

    await a.sendWithReceipt(`/user/${B}/queue/x`, 'both');
    await i1.wait(1);
    await i3.wait(1);
    const after = await snapshot();

    expect(delta(before, after, 0, LOCAL)).to.equal(1);
    expect(delta(before, after, 0, PUBLISHED, { node: n3.nodeId })).to.equal(1);
    expect(delta(before, after, 0, PUBLISHED)).to.equal(1);
    expect(delta(before, after, 2, CONSUMED, { origin: n1.nodeId, kind: 'user' })).to.equal(1);
  });
});
