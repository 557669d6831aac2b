import { expect } from 'chai';
import type { IMessage } from '@stomp/stompjs';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { useCluster } from '../helpers/use-cluster.js';

const COUNT = 1000;

/** Checks that `seq` headers from `sender` run 0..count-1, each once, in order. */
function expectInOrder(messages: readonly IMessage[], sender: string, count: number): void {
  const seqs = messages.filter((m) => m.headers['x-sender'] === sender).map((m) => Number(m.headers['x-seq']));
  const missing = count - new Set(seqs).size;
  const outOfOrder = seqs.findIndex((s, i) => i > 0 && s <= seqs[i - 1]!);
  expect({ sender, received: seqs.length, missing, firstOutOfOrderAt: outOfOrder }).to.deep.equal({
    sender,
    received: count,
    missing: 0,
    firstOutOfOrderAt: -1,
  });
  expect(seqs).to.deep.equal(Array.from({ length: count }, (_, i) => i));
}

describe('cluster: per-sender order', function () {
  // The default route cache is on: lookups for one user resolve in order, so a cached route
  // never lets a later message overtake an earlier one still waiting for Redis.
  const cluster = useCluster(3);
  let n1: ClusterNode;
  let n2: ClusterNode;
  let n3: ClusterNode;

  before(() => {
    [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });

  it(`keeps each sender's order to B across nodes over ${COUNT} messages each, with no loss and no duplicate`, async function () {
    this.timeout(60_000);
    const [A, B, C] = uniqueUsers('A', 'B', 'C');
    const a = await cluster.connect(n1, A);
    const c = await cluster.connect(n2, C);
    const b = await cluster.connect(n3, B);
    const inbox = await b.subscribeWithReceipt('/user/queue/seq');

    // Two senders on two other nodes, interleaved, each without waiting between messages.
    for (let i = 0; i < COUNT; i++) {
      a.send(`/user/${B}/queue/seq`, `a${i}`, { 'x-sender': A, 'x-seq': String(i) });
      c.send(`/user/${B}/queue/seq`, `c${i}`, { 'x-sender': C, 'x-seq': String(i) });
    }
    await a.sendWithReceipt(`/user/${B}/queue/seq`, 'end', { 'x-sender': A, 'x-seq': 'end' });
    await c.sendWithReceipt(`/user/${B}/queue/seq`, 'end', { 'x-sender': C, 'x-seq': 'end' });
    await inbox.wait(2 * COUNT + 2, 45_000);

    const numbered = inbox.messages.filter((m) => m.headers['x-seq'] !== 'end');
    expectInOrder(numbered, A, COUNT);
    expectInOrder(numbered, C, COUNT);
    // The 'end' of each sender comes after all its numbered messages: nothing arrived late or twice.
    for (const sender of [A, C]) {
      const mine = inbox.messages.filter((m) => m.headers['x-sender'] === sender);
      expect(mine).to.have.length(COUNT + 1);
      expect(mine[COUNT]!.headers['x-seq']).to.equal('end');
    }
  });
});
