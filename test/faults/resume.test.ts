import { expect } from 'chai';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { delay } from '../helpers/wait.js';
import { useBalancedCluster } from './balanced.js';
import { useProxiedCluster } from './proxied.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { useCluster } from '../helpers/use-cluster.js';
import { Ledger, Recipient, startMesh, stopAll, SUB_DEST, waitReady, type Mesh } from './support.js';

/**
 * SPEC §11 under the node faults: the recipients' subscription keeps history and they subscribe
 * through the resume helper, so what the application sees is every accepted message once — no
 * loss, and none of the duplicates a SIGKILL otherwise brings (frames written twice, adopted
 * queues re-routed, unacknowledged copies), nor a sender's re-send of a message whose RECEIPT it
 * never got: the same message-id gets its first offset again (idempotent acceptance).
 */
describe('faults with history and the resume helper: what the application sees', function () {
  const clients: { stop(): Promise<void> }[] = [];
  const balanced = useBalancedCluster({ NODE_TTL_MS: '3000', HISTORY_DESTINATIONS: SUB_DEST }, clients);

  for (const [fault, signal] of [
    ['SIGKILL', 'SIGKILL'],
    ['drain (SIGTERM)', 'SIGTERM'],
  ] as const) {
    it(`loses nothing and repeats nothing when the recipients' node goes by ${fault}`, async function () {
      this.timeout(120_000);
      const run = await balanced().run(
        `${fault} with resume`,
        async (victim) => void (await victim.kill(signal)),
        clients,
        { resume: true },
      );
      const totals = run.ledger.totals();
      expect(totals.lost, 'lost').to.equal(0);
      expect(totals.duplicates, "duplicates seen by the application, the senders' re-sends included").to.equal(0);
      const recipients = run.all.filter((c): c is Recipient => c instanceof Recipient);
      expect(
        recipients.map((r) => r.notRecovered),
        'resumes that could not recover',
      ).to.deep.equal([0, 0, 0]);
    });
  }
});

describe('faults with history and the resume helper: a RabbitMQ link cut', function () {
  const clients: { stop(): Promise<void> }[] = [];
  const { cluster, proxies } = useProxiedCluster(3, 'rabbitmq', clients, {
    env: { NODE_TTL_MS: '3000', HISTORY_DESTINATIONS: SUB_DEST },
  });

  it("loses nothing and repeats nothing when the recipients' node loses RabbitMQ for 3 s", async function () {
    this.timeout(120_000);
    const nodes = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const ledger = new Ledger('rabbitmq cut with resume');
    const mesh = await startMesh(nodes, ledger, uniqueUsers('R1', 'R2', 'R3', 'S1', 'S2', 'S3'), clients, {
      resume: true,
    });
    await delay(1500);
    proxies[1]!.cut();
    await waitReady([nodes[1].http], 503, 2000);
    await delay(3000);
    proxies[1]!.restore();
    await expectEveryMessageOnce(ledger, mesh);
  });
});

describe('faults with history and the resume helper: client connections dropped with frames queued', function () {
  const clients: { stop(): Promise<void> }[] = [];
  const proxies: TcpProxy[] = [];
  const cluster = useCluster(3, {
    env: { NODE_TTL_MS: '3000', HISTORY_DESTINATIONS: SUB_DEST },
    afterEach: async () => {
      for (const p of proxies) p.restore();
      await stopAll(clients.splice(0));
    },
  });
  after(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  it("loses nothing and repeats nothing when the connections to the recipients' node stall, then drop", async function () {
    this.timeout(120_000);
    const nodes = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    // The clients reach each node through a TCP proxy of this test: the network between a browser and its node.
    for (const n of nodes) proxies.push(await startTcpProxy({ host: '127.0.0.1', port: n.port }));
    const through = nodes.map((n, i) => ({ ...n, url: `ws://127.0.0.1:${proxies[i]!.port}/ws` })) as [
      ClusterNode,
      ClusterNode,
      ClusterNode,
    ];
    const ledger = new Ledger('client connections dropped with resume');
    const mesh = await startMesh(through, ledger, uniqueUsers('R1', 'R2', 'R3', 'S1', 'S2', 'S3'), clients, {
      resume: true,
    });
    await delay(1000);
    // Nothing moves for a while, so MESSAGE frames queue in the node's socket and the network;
    // then the connections are reset with those frames never read.
    proxies[1]!.stall();
    await delay(1000);
    proxies[1]!.cut();
    await delay(300);
    proxies[1]!.restore();
    await expectEveryMessageOnce(ledger, mesh);
    expect(mesh.recipients[0]!.connects, 'R1 (on the node whose connections dropped) reconnected').to.be.greaterThan(1);
  });
});

/** Waits for the mesh to finish and checks what the application saw: every accepted message once, every resume recovered. */
async function expectEveryMessageOnce(ledger: Ledger, mesh: Mesh): Promise<void> {
  await mesh.finish();
  ledger.report({ resent: mesh.resent() });
  const totals = ledger.totals();
  expect(ledger.unaccepted(), 'messages never accepted').to.have.length(0);
  expect(totals.lost, ledger.describeLost()).to.equal(0);
  expect(totals.duplicates, "duplicates seen by the application, the senders' re-sends included").to.equal(0);
  expect(
    mesh.recipients.map((r) => r.notRecovered),
    'resumes that could not recover',
  ).to.deep.equal([0, 0, 0]);
}
