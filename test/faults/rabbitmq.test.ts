import { expect } from 'chai';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { delay } from '../helpers/wait.js';
import { useProxiedCluster } from './proxied.js';
import { Ledger, startMesh, suppressedDuplicates, waitReady } from './support.js';

/**
 * SPEC §8 "RabbitMQ lost while running": each node reaches RabbitMQ through a TCP proxy of this
 * test; cutting it resets the node's AMQP connection and refuses new ones. Publishes wait in the
 * node's buffer (no RECEIPT until RabbitMQ confirms), deliveries in flight are redelivered.
 */
describe('faults: RabbitMQ connection cut during a steady stream', function () {
  const clients: { stop(): Promise<void> }[] = [];
  const { cluster, proxies } = useProxiedCluster(3, 'rabbitmq', clients, {
    env: { NODE_TTL_MS: '3000', LOG_LEVEL: 'info' },
  });
  let nodes: [ClusterNode, ClusterNode, ClusterNode];

  before(() => {
    nodes = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });

  /** Three senders and three recipients, one of each per node; every sender streams to every recipient. */
  async function scenario(name: string, fault: () => Promise<void>): Promise<Ledger> {
    const ledger = new Ledger(name);
    const mesh = await startMesh(nodes, ledger, uniqueUsers('R1', 'R2', 'R3', 'S1', 'S2', 'S3'), clients);
    await fault();
    await mesh.finish();

    const { recipients, senders } = mesh;
    const resent = mesh.resent();
    const errors = senders.reduce((n, s) => n + s.errors.length, 0);
    const suppressed = (await suppressedDuplicates(nodes)) - mesh.suppressedBefore;
    ledger.report({
      resent,
      errors,
      suppressed,
      reconnects: [...recipients, ...senders].reduce((n, c) => n + c.connects - 1, 0),
    });
    console.log(`      ${(await cluster.relayReport()).split('\n').join('\n      ')}`);
    expect(ledger.unaccepted(), 'messages never accepted').to.have.length(0);
    expect(ledger.lost(), ledger.describeLost()).to.have.length(0);
    expect(ledger.idMismatches, 'MESSAGE message-id differs from the SEND message-id').to.equal(0);
    return ledger;
  }

  it('loses nothing when every node loses RabbitMQ for 3 s mid-stream', async function () {
    this.timeout(120_000);
    await scenario('rabbitmq cut all nodes 3s', async () => {
      await delay(1500);
      for (const p of proxies) p.cut();
      await waitReady(
        nodes.map((n) => n.http),
        503,
        2000,
      );
      await delay(3000);
      for (const p of proxies) p.restore();
    });
    await waitReady(
      nodes.map((n) => n.http),
      200,
    );
  });

  it("loses nothing when only the recipients' node loses RabbitMQ for 3 s (its queue fills meanwhile)", async function () {
    this.timeout(120_000);
    await scenario('rabbitmq cut one node 3s', async () => {
      await delay(1500);
      proxies[1]!.cut();
      await waitReady([nodes[1].http], 503, 2000);
      await delay(3000);
      proxies[1]!.restore();
    });
  });
});
