import { expect } from 'chai';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { useCluster } from '../helpers/use-cluster.js';

/**
 * Flow control of the node hop (SPEC §9): a sender faster than RabbitMQ confirms is slowed down
 * (its socket is not read while the relay buffer is above half of RELAY_BUFFER_MAX), never cut
 * off, while the node's other sessions keep receiving. A small buffer makes a healthy RabbitMQ's
 * confirm latency enough to fill it.
 */
describe('cluster: flow control instead of disconnect', function () {
  this.timeout(60_000);
  const cluster = useCluster(2, { env: { RELAY_BUFFER_MAX: '64', MAX_FRAMES_PER_SECOND: '1000000' } });
  let n1: ClusterNode;
  let n2: ClusterNode;

  before(() => {
    [n1, n2] = cluster.nodes as [ClusterNode, ClusterNode];
  });

  it('slows a sender with 20,000 messages in flight down, delivers all of them in order, and keeps delivering to others', async () => {
    const [Fast, Sink, Other, Watcher] = uniqueUsers('fast', 'sink', 'other', 'watcher');
    const fast = await cluster.connect(n1, Fast);
    const sink = await cluster.connect(n2, Sink);
    const other = await cluster.connect(n2, Other);
    const watcher = await cluster.connect(n1, Watcher);
    const flood = await sink.subscribeWithReceipt('/user/queue/flood');
    const watched = await watcher.subscribeWithReceipt('/user/queue/side');
    const before = (await n1.metrics()).value('stomp_flow_paused_total');

    const total = 20_000;
    const body = 'x'.repeat(100);
    for (let i = 0; i < total; i++) fast.send(`/user/${Sink}/queue/flood`, body, { 'x-seq': String(i) });
    // Meanwhile another user on node 2 writes to a session on the sender's node.
    const side = Array.from({ length: 50 }, (_, i) =>
      other.sendWithReceipt(`/user/${Watcher}/queue/side`, `side ${i}`),
    );
    await Promise.all(side);
    await watched.wait(50, 30_000);

    const got = await flood.wait(total, 50_000);
    expect(got.map((m) => Number(m.headers['x-seq']))).to.deep.equal(Array.from({ length: total }, (_, i) => i));
    expect(watched.bodies()).to.deep.equal(Array.from({ length: 50 }, (_, i) => `side ${i}`));
    // Never cut off: no ERROR, the session still answers.
    expect(fast.errors.map((e) => e.headers.message)).to.deep.equal([]);
    await fast.sendWithReceipt(`/user/${Sink}/queue/flood`, 'still here');
    expect(fast.closes).to.deep.equal([]);
    // And it was slowed: node 1 stopped reading it at least once.
    expect((await n1.metrics()).value('stomp_flow_paused_total')).to.be.greaterThan(before);
  });
});
