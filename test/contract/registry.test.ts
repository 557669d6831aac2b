import { expect } from 'chai';
import type { Redis } from 'ioredis';
import type { NodeId } from '../../server/ids.js';
import { MemoryRegistry } from '../../server/registry/memory-registry.js';
import { RedisRegistry } from '../../server/registry/redis-registry.js';
import { requireService, uniquePrefix } from '../helpers/services.js';
import { connectTestRedis, deleteKeysUnder, keysUnder, waitFor } from '../registry/redis-support.js';
import { registryContract, type RegistryFixture } from './registry.contract.js';

registryContract(
  'MemoryRegistry',
  async (nodeIds) => {
    const registries = nodeIds.map((id) => new MemoryRegistry(id));
    return { registries, cleanup: async () => void (await Promise.all(registries.map((r) => r.close()))) };
  },
  { multiNode: false },
);

describe('RedisRegistry', function () {
  const runPrefix = uniquePrefix('registry');
  let admin: Redis | undefined;
  let fixtures = 0;

  before(async function () {
    await requireService(this, 'redis');
    admin = await connectTestRedis();
  });

  after(async () => {
    if (!admin) return;
    await deleteKeysUnder(admin, runPrefix);
    await admin.quit();
  });

  /** Registries on their own connections (as separate nodes have) under a fresh sub-prefix. */
  async function makeRedisRegistries(
    nodeIds: NodeId[],
    nodeTtlMs = 10_000,
  ): Promise<RegistryFixture & { prefix: string }> {
    const prefix = `${runPrefix}${++fixtures}:`;
    const connections = await Promise.all(nodeIds.map(() => connectTestRedis()));
    const registries = nodeIds.map(
      (nodeId, i) => new RedisRegistry({ redis: connections[i]!, nodeId, keyPrefix: prefix, nodeTtlMs }),
    );
    return {
      prefix,
      registries,
      async cleanup() {
        await Promise.all(registries.map((r) => r.close()));
        await deleteKeysUnder(connections[0] ?? admin!, prefix);
        await Promise.all(connections.filter((c) => c.status !== 'end').map((c) => c.quit()));
      },
    };
  }

  registryContract('RedisRegistry', (nodeIds) => makeRedisRegistries(nodeIds), { multiNode: true });

  describe('in Redis', () => {
    let fixture: (RegistryFixture & { prefix: string }) | undefined;
    const extra: Redis[] = [];

    async function redisNodes(
      nodeIds: NodeId[],
      nodeTtlMs?: number,
    ): Promise<{ regs: RedisRegistry[]; prefix: string }> {
      fixture = await makeRedisRegistries(nodeIds, nodeTtlMs);
      const regs = fixture.registries as RedisRegistry[];
      await Promise.all(regs.map((r) => r.keepAlive()));
      return { regs, prefix: fixture.prefix };
    }

    async function presenceHash(key: string): Promise<Record<string, unknown>> {
      const flat = await admin!.hgetall(key);
      return Object.fromEntries(Object.entries(flat).map(([user, json]) => [user, JSON.parse(json)]));
    }

    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
      await Promise.all(
        extra
          .splice(0)
          .filter((c) => c.status !== 'end')
          .map((c) => c.quit()),
      );
    });

    it('keeps the hash {prefix}co:42 with each user, node and session count, until they leave', async () => {
      const {
        regs: [n1, n2],
        prefix,
      } = await redisNodes(['n1', 'n2']);
      await n1!.joinDoc('42', 'A', 's1');
      await n2!.joinDoc('42', 'B', 's2');
      await n1!.joinDoc('42', 'B', 's3');
      expect(await presenceHash(`${prefix}co:42`)).to.deep.equal({
        A: { node: 'n1', sessions: 1, nodes: { n1: 1 } },
        B: { node: 'n1', sessions: 1, nodes: { n1: 1, n2: 1 } },
      });
      await n1!.leaveDoc('42', 'B', 's3');
      expect(await presenceHash(`${prefix}co:42`)).to.deep.equal({
        A: { node: 'n1', sessions: 1, nodes: { n1: 1 } },
        B: { node: 'n2', sessions: 1, nodes: { n2: 1 } },
      });
      await n1!.leaveDoc('42', 'A', 's1');
      await n2!.leaveDoc('42', 'B', 's2');
      expect(await admin!.exists(`${prefix}co:42`)).to.equal(0);
      expect(await admin!.exists(`${prefix}node-docs:n1`, `${prefix}node-docs:n2`)).to.equal(0);
    });

    it('keeps {prefix}user:{id} as node → session count, gone at the last session', async () => {
      const {
        regs: [n1, n2],
        prefix,
      } = await redisNodes(['n1', 'n2']);
      await n1!.addSession('alice', 's1');
      await n1!.addSession('alice', 's2');
      await n2!.addSession('alice', 's3');
      expect(await admin!.hgetall(`${prefix}user:alice`)).to.deep.equal({ n1: '2', n2: '1' });
      expect(await admin!.smembers(`${prefix}node-users:n1`)).to.deep.equal(['alice']);
      await Promise.all([
        n1!.removeSession('alice', 's1'),
        n1!.removeSession('alice', 's2'),
        n2!.removeSession('alice', 's3'),
      ]);
      expect(await admin!.exists(`${prefix}user:alice`, `${prefix}node-users:n1`, `${prefix}node-users:n2`)).to.equal(
        0,
      );
    });

    it('keeps the counts in Redis right under concurrent updates from 3 nodes', async () => {
      const { regs, prefix } = await redisNodes(['n1', 'n2', 'n3']);
      await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const r = regs[i % 3]!;
          await r.addSession('alice', `s${i}`);
          if (i % 4 === 0) await r.removeSession('alice', `s${i}`);
        }),
      );
      const expected: Record<string, string> = {};
      for (let i = 0; i < 200; i++) {
        if (i % 4 !== 0) expected[`n${(i % 3) + 1}`] = String(Number(expected[`n${(i % 3) + 1}`] ?? 0) + 1);
      }
      expect(await admin!.hgetall(`${prefix}user:alice`)).to.deep.equal(expected);
    });

    it('sends the updates of one turn of the event loop together, in order: a storm of 1,200 in 3 scripts', async () => {
      const { prefix } = await redisNodes([]);
      const { registry: n1, conn } = await registryWithConnection(prefix);
      await n1.keepAlive();
      const scripts: string[] = [];
      const send = conn.sendCommand.bind(conn);
      conn.sendCommand = (command) => {
        if (/^eval/i.test(command.name)) scripts.push(String(command.args[0]));
        return send(command);
      };
      // 300 users join doc 42 with two sessions each and leave with one: 1,200 updates, made at once.
      await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const user = `u${i}`;
          await Promise.all([
            n1.addSession(user, `a${i}`),
            n1.joinDoc('42', user, `a${i}`),
            n1.joinDoc('42', user, `b${i}`),
          ]);
        }).concat(Array.from({ length: 300 }, (_, i) => n1.leaveDoc('42', `u${i}`, `b${i}`))),
      );
      expect(scripts.length, 'scripts sent for 1,200 updates').to.equal(3);
      const co = await admin!.hgetall(`${prefix}co:42`);
      expect(Object.keys(co)).to.have.length(300);
      for (const json of Object.values(co))
        expect(JSON.parse(json)).to.deep.equal({ node: 'n1', sessions: 1, nodes: { n1: 1 } });
      expect(await admin!.get(`${prefix}node-writes:n1`)).to.equal('1200');
      expect(await admin!.scard(`${prefix}node-users:n1`)).to.equal(300);
    });

    it('writes again, at the next keepAlive, registrations Redis lost after confirming them (a failover)', async () => {
      const {
        regs: [n1],
        prefix,
      } = await redisNodes(['n1']);
      await n1!.addSession('alice', 's1');
      await n1!.joinDoc('42', 'alice', 's1');
      // What a promoted replica looks like when the old primary died before replicating the last
      // writes: the entries are gone, the liveness key is still there.
      await admin!.del(`${prefix}user:alice`, `${prefix}co:42`, `${prefix}node-users:n1`, `${prefix}node-docs:n1`);
      await admin!.decrby(`${prefix}node-writes:n1`, 2);
      expect(await n1!.locate('alice')).to.deep.equal([]);
      await n1!.keepAlive();
      expect(await n1!.locate('alice')).to.deep.equal(['n1']);
      expect(await n1!.locate('alice', '42')).to.deep.equal(['n1']);
    });

    it('replaces, at its first keepAlive, what an earlier process under the same node id left', async () => {
      const {
        regs: [before],
        prefix,
      } = await redisNodes(['n1']);
      await before!.addSession('alice', 's1');
      await before!.joinDoc('42', 'alice', 's1');
      // The process dies (no removeNode) and comes back under its id within NODE_TTL_MS.
      const after = await makeRedisRegistriesSharing(prefix, 'n1', 10_000);
      await after.keepAlive();
      expect(await after.locate('alice')).to.deep.equal([]);
      expect(await after.locate('alice', '42')).to.deep.equal([]);
      expect(await admin!.get(`${prefix}node-writes:n1`)).to.equal('0');
    });

    it('names keys {prefix}co:{docId} for plain ids and encodes any other id', async () => {
      const {
        regs: [n1],
        prefix,
      } = await redisNodes(['n1']);
      await n1!.joinDoc('42', 'bob@example.com', 's1');
      await n1!.joinDoc('a:b*', 'x', 's1');
      await n1!.addSession('bob@example.com', 's1');
      const keys = await keysUnder(admin!, prefix);
      expect(keys.sort()).to.deep.equal(
        [
          'co:42',
          'co:a%3Ab%2A',
          'node-docs:n1',
          'node-users:n1',
          'node-writes:n1',
          'node:n1',
          'nodes',
          'user:bob@example.com',
        ].map((k) => prefix + k),
      );
    });

    it('sets node:{id} with the TTL and lists the node in nodes', async () => {
      const { prefix } = await redisNodes(['n1'], 5000);
      const ttl = await admin!.pttl(`${prefix}node:n1`);
      expect(ttl).to.be.within(1, 5000);
      expect(await admin!.sismember(`${prefix}nodes`, 'n1')).to.equal(1);
    });

    it("claims a swept node's queue for the sweeper until it lets go; the swept node sees the claim", async () => {
      const {
        regs: [n1, n3],
        prefix,
      } = await redisNodes(['n1', 'n3']);
      const shortLived = await makeRedisRegistriesSharing(prefix, 'n2', 200);
      await shortLived.keepAlive();
      expect(await shortLived.queueClaimedBy()).to.equal(undefined);
      await waitFor('n2 to expire', async () => (await admin!.exists(`${prefix}node:n2`)) === 0);
      const swept = [await n1!.sweep(), await n3!.sweep()];
      expect(swept).to.deep.equal([['n2'], []]);
      expect(await shortLived.queueClaimedBy()).to.equal('n1');
      // Only the sweeper renews or ends its claim; a renewal sets 3 × its NODE_TTL_MS (10 s here).
      await n3!.holdClaim('n2', false);
      expect(await shortLived.queueClaimedBy()).to.equal('n1');
      await n1!.holdClaim('n2', true);
      expect(await admin!.pttl(`${prefix}queue-claim:n2`)).to.be.within(20_000, 30_000);
      await n1!.holdClaim('n2', false);
      expect(await shortLived.queueClaimedBy()).to.equal(undefined);
      await shortLived.close();
    });

    it('leaves out a node whose liveness key expired, and sweep() removes all its entries', async () => {
      const {
        regs: [n1],
        prefix,
      } = await redisNodes(['n1']);
      const shortLived = await makeRedisRegistriesSharing(prefix, 'n2', 200);
      await shortLived.keepAlive();
      await shortLived.addSession('alice', 's1');
      await shortLived.joinDoc('42', 'alice', 's1');
      await n1!.addSession('alice', 's2');
      expect(await n1!.locate('alice')).to.deep.equal(['n1', 'n2']);

      await waitFor('n2 to expire', async () => (await admin!.exists(`${prefix}node:n2`)) === 0);
      // A node never takes itself for dead (its liveness lapses while it is alive in a Redis failover).
      expect(await shortLived.sweep()).to.deep.equal([]);
      expect(await n1!.locate('alice')).to.deep.equal(['n1']);
      expect(await n1!.locate('alice', '42')).to.deep.equal([]);
      expect(await n1!.presence('42')).to.deep.equal([]);
      expect(await n1!.liveNodes()).to.deep.equal(['n1']);

      expect(await n1!.sweep()).to.deep.equal(['n2']);
      expect(await admin!.hgetall(`${prefix}user:alice`)).to.deep.equal({ n1: '1' });
      expect(await admin!.exists(`${prefix}co:42`, `${prefix}node-users:n2`, `${prefix}node-docs:n2`)).to.equal(0);
      expect(await admin!.smembers(`${prefix}nodes`)).to.deep.equal(['n1']);
      expect(await n1!.sweep()).to.deep.equal([]);

      // The swept node is not dead after all: its next keepAlive puts its sessions back.
      await shortLived.keepAlive();
      expect(await n1!.locate('alice')).to.deep.equal(['n1', 'n2']);
      expect(await n1!.locate('alice', '42')).to.deep.equal(['n2']);
      await shortLived.close();
    });

    it('rewrites its registrations when Redis lost them (resync, and on keepAlive)', async () => {
      const {
        regs: [n1],
        prefix,
      } = await redisNodes(['n1']);
      await n1!.addSession('alice', 's1');
      await n1!.joinDoc('42', 'alice', 's1');
      await n1!.joinDoc('42', 'alice', 's2');
      const before = await presenceHash(`${prefix}co:42`);

      await deleteKeysUnder(admin!, prefix);
      expect(await n1!.locate('alice')).to.deep.equal([]);
      await n1!.resync();
      expect(await presenceHash(`${prefix}co:42`)).to.deep.equal(before);
      expect(await admin!.hgetall(`${prefix}user:alice`)).to.deep.equal({ n1: '1' });

      await deleteKeysUnder(admin!, prefix);
      await n1!.keepAlive();
      expect(await n1!.locate('alice', '42')).to.deep.equal(['n1']);
      expect(await presenceHash(`${prefix}co:42`)).to.deep.equal(before);
    });

    it('re-registers its sessions on its own after the connection comes back', async () => {
      const { prefix } = await redisNodes([]);
      const { registry: n1, conn } = await registryWithConnection(prefix);
      await n1.keepAlive();
      await n1.joinDoc('42', 'alice', 's1');
      await deleteKeysUnder(admin!, prefix); // what a restarted Redis without persistence looks like
      conn.disconnect(true);
      await waitFor('the presence to be back', async () => (await admin!.hexists(`${prefix}co:42`, 'alice')) === 1);
      expect(await admin!.exists(`${prefix}node:n1`)).to.equal(1);
      expect(n1.isReady()).to.equal(true);
      await n1.close();
    });

    it('is ready only while its connection is ready', async () => {
      const { prefix } = await redisNodes([]);
      const conn = await connectTestRedis();
      extra.push(conn);
      const n1 = new RedisRegistry({ redis: conn, nodeId: 'n1', keyPrefix: prefix, nodeTtlMs: 10_000 });
      expect(n1.isReady()).to.equal(true);
      await conn.quit();
      await waitFor('the connection to end', async () => conn.status === 'end');
      expect(n1.isReady()).to.equal(false);
      await n1.close();
    });

    it('leaves the connection to its owner on close(), unless told to quit it', async () => {
      const { prefix } = await redisNodes([]);
      const conn = await connectTestRedis();
      extra.push(conn);
      const n1 = new RedisRegistry({ redis: conn, nodeId: 'n1', keyPrefix: prefix, nodeTtlMs: 10_000 });
      await n1.close();
      expect(n1.isReady()).to.equal(false);
      expect(await conn.ping()).to.equal('PONG');

      const n2 = new RedisRegistry({
        redis: conn,
        nodeId: 'n2',
        keyPrefix: prefix,
        nodeTtlMs: 10_000,
        quitOnClose: true,
      });
      await n2.close();
      await waitFor('the connection to end', async () => conn.status === 'end');
    });

    it('refuses a connection that has an ioredis keyPrefix', async () => {
      const conn = await connectTestRedis();
      extra.push(conn);
      const prefixed = conn.duplicate({ keyPrefix: 'other:', lazyConnect: true });
      expect(() => new RedisRegistry({ redis: prefixed, nodeId: 'n1', keyPrefix: 'x:', nodeTtlMs: 1000 })).to.throw(
        RangeError,
      );
      prefixed.disconnect();
    });

    /** One more registry under an existing fixture's prefix, on its own connection. */
    async function makeRedisRegistriesSharing(
      prefix: string,
      nodeId: NodeId,
      nodeTtlMs: number,
    ): Promise<RedisRegistry> {
      return (await registryWithConnection(prefix, nodeId, nodeTtlMs)).registry;
    }

    /** A registry under `prefix` on a connection of its own, which the test may watch or break. */
    async function registryWithConnection(
      prefix: string,
      nodeId: NodeId = 'n1',
      nodeTtlMs = 10_000,
    ): Promise<{ registry: RedisRegistry; conn: Redis }> {
      const conn = await connectTestRedis();
      extra.push(conn);
      return { registry: new RedisRegistry({ redis: conn, nodeId, keyPrefix: prefix, nodeTtlMs }), conn };
    }
  });
});
