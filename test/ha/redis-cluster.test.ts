import { expect } from 'chai';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { canRunRedisLayouts, startRedisCluster, type RedisClusterLayout } from '../helpers/ha-engines.js';
import { useCluster } from '../helpers/use-cluster.js';
import { delay } from '../helpers/wait.js';
import { Ledger, startMesh, stopAll, suppressedDuplicates, waitReady } from '../faults/support.js';

/**
 * SPEC §10 on a Redis Cluster of the suite's own (three masters, three replicas, free ports; never
 * the machine's Redis), three relay nodes given its members (`REDIS_CLUSTER_NODES`) on the
 * machine's RabbitMQ. Under a steady stream of numbered user messages between the relay nodes, the
 * master holding the registry (every registry key is in its one slot) is killed with SIGKILL, its
 * replica takes over: every accepted message must arrive.
 */
describe('HA: a Redis Cluster, the registry master killed under a steady stream', function () {
  this.timeout(240_000);
  const clients: { stop(): Promise<void> }[] = [];
  let redis: RedisClusterLayout | undefined;

  const cluster = useCluster(3, {
    perTest: true,
    env: { LOG_LEVEL: 'info', REDIS_URL: '', NODE_TTL_MS: '15000' },
    beforeStart: async (ctx) => {
      if (!canRunRedisLayouts()) {
        const what = 'the Redis Cluster suite needs redis-server';
        if (process.env.CI === 'true') throw new Error(`${what}; CI needs it (apt-get install redis-server)`);
        console.warn(`\n  !!! SKIPPED "${ctx.test?.parent?.fullTitle() ?? 'Redis Cluster suite'}": ${what}.\n`);
        ctx.skip();
      }
      redis = await startRedisCluster(`ha-rc-${process.pid}`);
    },
    nodeEnv: () => ({ REDIS_CLUSTER_NODES: (redis as RedisClusterLayout).nodes }),
    afterEach: async () => {
      await stopAll(clients.splice(0));
    },
  });
  afterEach(async function () {
    this.timeout(60_000);
    await redis?.stop();
    redis = undefined;
  });

  it('loses nothing when the master holding the registry is killed and its replica takes over', async function () {
    const nodes = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const ledger = new Ledger('ha redis cluster registry master kill -9');
    const mesh = await startMesh(nodes, ledger, uniqueUsers('R1', 'R2', 'R3', 'S1', 'S2', 'S3'), clients);
    await delay(700);
    const layout = redis as RedisClusterLayout;
    const registryKey = `${cluster.keyPrefix}{registry}:nodes`;
    const before = await layout.killMasterOf(registryKey);
    await waitReady(
      nodes.map((n) => n.http),
      200,
      30_000,
    );
    await mesh.finish();
    expect(await layout.masterOf(registryKey), 'a replica took the slot over').to.not.equal(before);
    const suppressed = (await suppressedDuplicates(nodes)) - mesh.suppressedBefore;
    ledger.report({ resent: mesh.resent(), suppressed, longestPauseMs: ledger.longestPauseMs });
    expect(ledger.unaccepted(), 'messages never accepted').to.have.length(0);
    expect(ledger.lost(), ledger.describeLost()).to.have.length(0);
  });
});
