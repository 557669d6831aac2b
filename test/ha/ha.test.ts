import { expect } from 'chai';
import { spawnNode, uniqueUsers, type ClusterNode, type Spawned } from '../helpers/cluster.js';
import {
  canRunRabbitCluster,
  canRunRedisLayouts,
  startRabbitCluster,
  startRedisSentinel,
  type RabbitCluster,
  type RedisSentinelLayout,
} from '../helpers/ha-engines.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { useCluster } from '../helpers/use-cluster.js';
import { delay, waitFor } from '../helpers/wait.js';
import { Ledger, startMesh, stopAll, suppressedDuplicates, waitReady } from '../faults/support.js';

/**
 * SPEC §10 on the high-availability layout, started by this suite on its own ports and data
 * directories (never the machine's own Redis and RabbitMQ): a RabbitMQ cluster of three members
 * with quorum node queues, Redis with Sentinel (primary, replica, three sentinels), three relay
 * nodes given every member (`AMQP_URL` list, `REDIS_SENTINELS`). Under a steady stream of numbered
 * user messages between the three relay nodes, an engine member is killed with SIGKILL: every
 * accepted message must arrive. Each scenario prints its counts and the longest pause in deliveries.
 */
describe('HA: a RabbitMQ cluster and Redis with Sentinel, members killed under a steady stream', function () {
  this.timeout(240_000);
  const label = `ha-${process.pid}`;
  const clients: { stop(): Promise<void> }[] = [];
  let rabbit: RabbitCluster | undefined;
  let redis: RedisSentinelLayout | undefined;
  /** NODE_TTL_MS of this test's relay nodes: the default, or shorter than a Redis failover where a test's title says so. */
  let ttl = '15000';
  /** A proxy in front of the first member, for the test whose title says the nodes connect elsewhere. */
  let firstMemberProxy: TcpProxy | undefined;

  const cluster = useCluster(3, {
    perTest: true,
    env: { LOG_LEVEL: 'info', REDIS_URL: '' },
    beforeStart: async (ctx) => {
      if (!canRunRabbitCluster() || !canRunRedisLayouts()) {
        const what = 'the HA layout needs the rabbitmq-server package scripts (/usr/lib/rabbitmq/bin) and redis-server';
        if (process.env.CI === 'true')
          throw new Error(`${what}; CI needs them (apt-get install rabbitmq-server redis-server)`);
        console.warn(`\n  !!! SKIPPED "${ctx.test?.parent?.fullTitle() ?? 'HA suite'}": ${what}.\n`);
        ctx.skip();
      }
      ctx.timeout(180_000); // three RabbitMQ members start and join: ~30 s here, more on a busy machine
      const title = ctx.currentTest?.title ?? '';
      ttl = /taken for dead/.test(title) ? '2000' : /taken over while/.test(title) ? '3000' : '15000';
      [rabbit, redis] = await Promise.all([startRabbitCluster(label), startRedisSentinel(label)]);
      if (/while the relay nodes are connected to another/.test(ctx.currentTest?.title ?? ''))
        firstMemberProxy = await startTcpProxy(rabbit.members[0]!.url);
    },
    nodeEnv: () => ({
      NODE_TTL_MS: ttl,
      AMQP_URL: amqpUrl(rabbit as RabbitCluster),
      REDIS_SENTINELS: (redis as RedisSentinelLayout).sentinels,
      REDIS_SENTINEL_NAME: (redis as RedisSentinelLayout).name,
      REDIS_WAIT_REPLICAS: '1',
    }),
    afterEach: async () => {
      await stopAll(clients.splice(0));
    },
  });
  afterEach(async function () {
    this.timeout(60_000);
    await Promise.all([rabbit?.stop(), redis?.stop(), firstMemberProxy?.close()]);
    rabbit = undefined;
    redis = undefined;
    firstMemberProxy = undefined;
  });

  /** Every member, the first one through `firstMemberProxy` when there is one. */
  function amqpUrl(layout: RabbitCluster): string {
    if (!firstMemberProxy) return layout.amqpUrl;
    const [first, ...rest] = layout.members.map((m) => m.url);
    return [firstMemberProxy.url(first!), ...rest].join(',');
  }

  /** [queue, the member leading it] of the relay nodes' quorum queues. */
  async function nodeQueueLeaders(nodes: readonly ClusterNode[]): Promise<[string, string][]> {
    const out = await (rabbit as RabbitCluster).ctl('list_queues', 'name', 'leader', '--no-table-headers', '-q');
    const leaders: [string, string][] = [];
    for (const line of out.split('\n')) {
      const [name, leader] = line.trim().split(/\s+/);
      if (name && leader && nodes.some((n) => name.endsWith(`node.${n.nodeId}`))) leaders.push([name, leader]);
    }
    return leaders;
  }

  async function scenario(name: string, fault: (nodes: readonly ClusterNode[]) => Promise<void>): Promise<Ledger> {
    const nodes = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const ledger = new Ledger(name);
    const mesh = await startMesh(nodes, ledger, uniqueUsers('R1', 'R2', 'R3', 'S1', 'S2', 'S3'), clients);
    await fault(nodes);
    await mesh.finish();
    const suppressed = (await suppressedDuplicates(nodes)) - mesh.suppressedBefore;
    // A node taken for dead while alive (its liveness key expired during a failover) shows here.
    const sweeps = nodes.reduce((k, n) => k + n.logs().filter((l) => l.includes('swept dead nodes')).length, 0);
    ledger.report({ resent: mesh.resent(), suppressed, longestPauseMs: ledger.longestPauseMs, falseSweeps: sweeps });
    expect(ledger.unaccepted(), 'messages never accepted').to.have.length(0);
    expect(ledger.lost(), ledger.describeLost()).to.have.length(0);
    return ledger;
  }

  it('loses nothing when the RabbitMQ member every relay node is connected to, and that leads their queues, is killed', async function () {
    await scenario('ha rabbitmq member kill -9', async (nodes) => {
      await delay(700);
      // Every node took the first member of AMQP_URL, and declared its quorum queue there (its leader).
      await (rabbit as RabbitCluster).members[0]!.kill();
      await waitReady(
        nodes.map((n) => n.http),
        200,
        30_000,
      );
    });
    // The fault did happen: every relay node lost its member and connected to another.
    for (const n of cluster.nodes)
      expect(
        n.logs().some((l) => l.includes('"reconnect":true')),
        `${n.nodeId} reconnected`,
      ).to.equal(true);
    const nacked = cluster.nodes.reduce((k, n) => k + n.logs().filter((l) => l.includes('nacked a publish')).length, 0);
    console.log(`      publishes nacked during the election, sent again on a fresh channel: ${nacked} time(s)`);
  });

  it('loses nothing when the RabbitMQ member leading the node queues is killed while the relay nodes are connected to another', async function () {
    const proxy = firstMemberProxy as TcpProxy;
    const leader = (rabbit as RabbitCluster).members[0]!;
    await scenario('ha queue leader kill -9', async (nodes) => {
      await delay(700);
      // The nodes declared their queues through the proxy (the first member leads them); cut it and
      // they connect to the second member, while the first keeps leading their queues.
      proxy.cut();
      await waitFor(
        () => nodes.every((n) => n.logs().some((l) => l.includes('"reconnect":true'))),
        'every relay node connected to another member',
        30_000,
      );
      await waitReady(
        nodes.map((n) => n.http),
        200,
        30_000,
      );
      const nodeQueues = await nodeQueueLeaders(nodes);
      expect(nodeQueues, 'the node queues').to.have.length(nodes.length);
      for (const [name, at] of nodeQueues) expect(at, `the leader of ${name}`).to.equal(leader.name);
      await delay(500);
      await leader.kill();
      await waitFor(
        async () => (await nodeQueueLeaders(nodes)).every(([, at]) => at !== leader.name),
        'new leaders of the node queues',
        30_000,
        1000,
      );
    });
    const reconnects = cluster.nodes.map((n) => n.logs().filter((l) => l.includes('"reconnect":true')).length);
    console.log(`      relay node reconnects (the cut, then the leader's death): ${reconnects.join(', ')}`);
  });

  it('loses nothing when a RabbitMQ member and the Redis primary are killed at once', async function () {
    await scenario('ha rabbitmq member + redis primary kill -9', async (nodes) => {
      await delay(700);
      await Promise.all([(rabbit as RabbitCluster).members[0]!.kill(), (redis as RedisSentinelLayout).killPrimary()]);
      await waitReady(
        nodes.map((n) => n.http),
        200,
        30_000,
      );
    });
  });

  it('loses nothing when the Redis primary is killed and Sentinel promotes the replica', async function () {
    await scenario('ha redis primary kill -9', async (nodes) => {
      await delay(700);
      const before = await (redis as RedisSentinelLayout).killPrimary();
      await waitReady(
        nodes.map((n) => n.http),
        200,
        30_000,
      );
      expect(await (redis as RedisSentinelLayout).primaryPort()).to.not.equal(before);
    });
  });

  it('loses nothing when a RabbitMQ member, the Redis primary and a relay node are killed at once', async function () {
    // The relay node comes back on its port (its clients reconnect to it), as an orchestrator would
    // restart it; it waits until Redis and RabbitMQ are usable again, and until no other node is
    // taking its old queue over.
    let again: Spawned | undefined;
    try {
      await scenario('ha member + primary + relay node kill -9', async (nodes) => {
        await delay(700);
        const victim = nodes[1]!;
        await Promise.all([
          (rabbit as RabbitCluster).members[0]!.kill(),
          (redis as RedisSentinelLayout).killPrimary(),
          victim.kill('SIGKILL'),
        ]);
        again = spawnNode(victim.nodeId, { ...victim.env, PORT: String(victim.port) }, 90_000);
        await again.ready;
        await waitReady(
          nodes.map((n) => n.http),
          200,
          30_000,
        );
      });
    } finally {
      if (again && again.child.exitCode === null) {
        again.child.kill('SIGTERM');
        await again.exited;
      }
    }
  });

  it('loses nothing when a relay node is killed with a RabbitMQ member, taken over while the member is down, and started again before it', async function () {
    // The node declares its queue while a member is down. The taken-over queue is left, not
    // deleted: declared afresh under its old name, RabbitMQ 3.10 kept the down member's stale
    // replica, which crashed every new leader once it was back (a soak, twice: the queue refused
    // every publish for minutes). This layout does not provoke that crash reliably; it checks the
    // path itself.
    let again: Spawned | undefined;
    const member = (rabbit as RabbitCluster).members[1]!;
    try {
      await scenario('ha relay node + member kill -9, node back before the member', async (nodes) => {
        await delay(700);
        const victim = nodes[1]!;
        const queue = `node.${victim.nodeId}`;
        await Promise.all([member.kill(), victim.kill('SIGKILL')]);
        await waitFor(
          () => nodes.some((n) => n.logs().some((l) => l.includes('adopted a node queue') && l.includes(queue))),
          'the dead node’s queue taken over',
          30_000,
          100,
        );
        again = spawnNode(victim.nodeId, { ...victim.env, PORT: String(victim.port) }, 90_000);
        await again.ready;
        await member.restart();
        await waitReady(
          nodes.map((n) => n.http),
          200,
          30_000,
        );
        await delay(3000); // the member rejoins its queues
      });
    } finally {
      if (again && again.child.exitCode === null) {
        again.child.kill('SIGTERM');
        await again.exited;
      }
    }
  });

  it('loses nothing when a Redis failover outlasts NODE_TTL_MS and live relay nodes are taken for dead', async function () {
    // NODE_TTL_MS=2000 against a failover of ~3 s: a node's sweep may take the others for dead and
    // adopt their queues while they still serve their users. What was stored offline meanwhile is
    // taken again when they reconnect to RabbitMQ (without that: 38 and 5 of 630 lost in two runs).
    await scenario('ha redis primary kill -9, live nodes taken for dead', async (nodes) => {
      await delay(700);
      await (redis as RedisSentinelLayout).killPrimary();
      await waitReady(
        nodes.map((n) => n.http),
        200,
        30_000,
      );
    });
  });
});
