import { expect } from 'chai';
import { Cluster } from 'ioredis';
import { RedisHistory } from '../../server/history/redis-history.js';
import { registryPrefix } from '../../server/redis/redis-keys.js';
import { RedisRegistry } from '../../server/registry/redis-registry.js';
import { RedisOfflineStore } from '../../server/store/redis-offline-store.js';
import { RedisDocStates } from '../../server/yjs/redis-doc-states.js';
import { canRunRedisLayouts, startRedisCluster, type RedisClusterLayout } from '../helpers/ha-engines.js';
import { docStatesContract } from '../yjs/doc-states.contract.js';
import { historyContract } from './history.contract.js';
import { registryContract } from './registry.contract.js';
import { storeContract } from './store.contract.js';

/**
 * The Redis-backed registry, offline store, history and document states on a Redis Cluster of
 * their own (three masters, three replicas, started here on free ports, never the machine's
 * Redis): every script and multi-key command must stay in one hash slot, or the cluster refuses it
 * (CROSSSLOT) or sends it where the keys are not. The same contracts as on one Redis.
 */
describe('on a Redis Cluster (three masters, three replicas)', function () {
  this.timeout(60_000);
  let layout: RedisClusterLayout | undefined;
  const connections: Cluster[] = [];
  let fixtures = 0;

  before(async function () {
    if (!canRunRedisLayouts()) {
      if (process.env.CI === 'true') throw new Error('redis-server is needed for the Redis Cluster suite in CI');
      console.warn(`\n  !!! SKIPPED "${this.test?.parent?.fullTitle() ?? ''}": redis-server is not installed.\n`);
      this.skip();
    }
    layout = await startRedisCluster(`rc-${process.pid}`);
  });

  after(async () => {
    await Promise.all(connections.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
    await layout?.stop();
  });

  /** A connection as a node makes one (REDIS_CLUSTER_NODES), ready. */
  async function connect(): Promise<Cluster> {
    const [first] = (layout as RedisClusterLayout).ports;
    const c = new Cluster([{ host: '127.0.0.1', port: first! }], { redisOptions: { maxRetriesPerRequest: 1 } });
    connections.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('ready', resolve);
      c.once('error', reject);
    });
    return c;
  }
  const prefix = (): string => `rc-${process.pid}-${++fixtures}:`;

  registryContract(
    'RedisRegistry on a Redis Cluster',
    async (nodeIds) => {
      const keyPrefix = prefix();
      const conns = await Promise.all(nodeIds.map(() => connect()));
      const registries = nodeIds.map(
        (nodeId, i) => new RedisRegistry({ redis: conns[i]!, nodeId, keyPrefix, nodeTtlMs: 10_000 }),
      );
      return { registries, cleanup: async () => void (await Promise.all(registries.map((r) => r.close()))) };
    },
    { multiNode: true },
  );

  storeContract('RedisOfflineStore on a Redis Cluster', async (limits, now, onDropped) => {
    const store = new RedisOfflineStore({ redis: await connect(), keyPrefix: prefix(), limits, now, onDropped });
    return { store, cleanup: () => store.close() };
  });

  historyContract('RedisHistory on a Redis Cluster', async (limits, now) => {
    const keyPrefix = prefix();
    const [a, b] = [await connect(), await connect()];
    const histories = [
      new RedisHistory({ redis: a, keyPrefix, limits, now }),
      new RedisHistory({ redis: b, keyPrefix, limits, now }),
    ] as const;
    return {
      histories,
      // One DEL per key: they share a slot, but the point here is only that they go.
      lose: async (stream) => void (await a.del(histories[0].keys.meta(stream), histories[0].keys.log(stream))),
      cleanup: async () => void (await Promise.all(histories.map((h) => h.close()))),
    };
  });

  docStatesContract(
    'redis cluster',
    async (limits) => {
      const [redis, keyPrefix] = [await connect(), prefix()];
      const make = () => new RedisDocStates({ redis, keyPrefix, limits });
      return { states: make(), more: make };
    },
    true,
  );

  it('keeps the registry in one slot and spreads inboxes over the masters', async () => {
    const cluster = layout as RedisClusterLayout;
    const p = registryPrefix('stomp:', true);
    const registryMasters = new Set(
      await Promise.all([`${p}nodes`, `${p}user:alice`, `${p}co:42`, `${p}node:n1`].map((k) => cluster.masterOf(k))),
    );
    expect(registryMasters.size, 'every registry key on one master').to.equal(1);
    const inboxMasters = new Set(
      await Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((u) => cluster.masterOf(`stomp:inbox:${u}`))),
    );
    expect(inboxMasters.size, 'inboxes on several masters').to.be.greaterThan(1);
  });
});
