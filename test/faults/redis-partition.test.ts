import { expect } from 'chai';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { delay, waitFor } from '../helpers/wait.js';
import { useProxiedCluster } from './proxied.js';
import { CarefulSender, describeInbox, Ledger, nodeOf, Recipient, waitReady } from './support.js';

/** Liveness TTL here: node 2's Redis cut outlasts it, so the others take node 2 for dead. */
const TTL_MS = 2000;

/**
 * One node cut from Redis for longer than NODE_TTL_MS while the others still reach it: they
 * find its liveness key gone, sweep its registry entries and adopt (delete) its queue, although
 * it still holds live sessions. When its Redis comes back it re-registers (resync) and re-declares
 * its queue. What was accepted for its users in between must still reach them.
 */
describe('faults: a node cut from Redis for longer than NODE_TTL_MS (taken for dead while alive)', function () {
  const clients: { stop(): Promise<void> }[] = [];
  // A fresh cluster per test: a test leaves behind a node the others once took for dead.
  const { cluster, proxies } = useProxiedCluster(3, 'redis', clients, {
    env: { NODE_TTL_MS: String(TTL_MS) },
    perTest: true,
  });

  // A node cut from Redis past NODE_TTL_MS is taken for dead: its queue is taken over and its
  // users' messages go to their inboxes, while the users stay subscribed there. When the node's
  // registry resyncs, it takes those inboxes again for its live subscriptions.
  it('delivers what was accepted for its users while it was taken for dead', async function () {
    this.timeout(120_000);
    const [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const ledger = new Ledger(`redis partition of one node > NODE_TTL_MS=${TTL_MS}`);
    const [R, S1, S3] = uniqueUsers('R', 'S1', 'S3');
    const recipient = new Recipient(R, n2.url, ledger);
    const senders = [new CarefulSender(S1, n1.url, ledger), new CarefulSender(S3, n3.url, ledger)];
    clients.push(recipient, ...senders);
    for (const c of [recipient, ...senders]) c.start();
    await Promise.all([recipient, ...senders].map((c) => c.waitReady()));

    const deadline = Date.now() + 60_000;
    const streams = senders.map((s) => s.stream([R], 200, 40, deadline));
    await delay(1000);
    proxies[1]!.cut();
    await waitReady([n2.http], 503, 2000);
    // The others sweep node 2: R is nowhere in the registry while still connected there.
    await waitFor(
      async () => (await nodeOf(cluster.redis, cluster.keyPrefix, R)) === undefined,
      'node 2 swept',
      3 * TTL_MS + 2000,
      50,
    );
    await delay(1000);
    proxies[1]!.restore();
    await waitReady([n2.http], 200, 20_000);
    await waitFor(
      async () => (await nodeOf(cluster.redis, cluster.keyPrefix, R)) === n2.nodeId,
      'node 2 registered again',
      10_000,
      50,
    );
    await Promise.all(streams);
    await Promise.all(senders.map((s) => s.allAccepted(30_000)));
    await ledger.settle(15_000);
    ledger.report({ recipientReconnects: recipient.connects - 1 });
    expect(ledger.unaccepted()).to.have.length(0);
    expect(
      ledger.lost(),
      `${ledger.describeLost()}; in R's inbox: ${(await describeInbox(cluster.redis, cluster.keyPrefix, R)).slice(0, 300)}`,
    ).to.have.length(0);
  });
});
