import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { MemoryOfflineStore } from '../../server/store/memory-offline-store.js';
import { RedisOfflineStore } from '../../server/store/redis-offline-store.js';
import { requireService, uniquePrefix } from '../helpers/services.js';
import { connectTestRedis, deleteKeysUnder } from '../registry/redis-support.js';
import { storeContract, userMessage } from './store.contract.js';

storeContract('MemoryOfflineStore', async (limits, now, onDropped) => {
  const store = new MemoryOfflineStore(limits, now, onDropped);
  return { store, cleanup: () => store.close() };
});

describe('RedisOfflineStore', function () {
  const runPrefix = uniquePrefix('store');
  let redis: Redis | undefined;
  let fixtures = 0;

  before(async function () {
    await requireService(this, 'redis');
    redis = await connectTestRedis();
  });

  after(async () => {
    if (!redis) return;
    await deleteKeysUnder(redis, runPrefix);
    await redis.quit();
  });

  storeContract('RedisOfflineStore', async (limits, now, onDropped) => {
    const keyPrefix = `${runPrefix}${++fixtures}:`;
    const store = new RedisOfflineStore({ redis: redis!, keyPrefix, limits, now, onDropped });
    return {
      store,
      async cleanup() {
        await store.close();
        await deleteKeysUnder(redis!, keyPrefix);
      },
    };
  });

  describe('in Redis', () => {
    let keyPrefix = '';
    beforeEach(() => {
      keyPrefix = `${runPrefix}${++fixtures}:`;
    });
    afterEach(async () => {
      await deleteKeysUnder(redis!, keyPrefix);
    });

    it('keeps one list {prefix}inbox:{user} of {"sub","at","msg"} entries, oldest first, expiring after retention', async () => {
      const store = new RedisOfflineStore({
        redis: redis!,
        keyPrefix,
        limits: { maxPerUser: 10, retentionMs: 30_000 },
        now: () => 1000,
      });
      await store.append('alice', '/user/queue/chat', userMessage('1'));
      await store.append('alice', '/user/42/queue/chat', userMessage('2'));
      const entries = (await redis!.lrange(`${keyPrefix}inbox:alice`, 0, -1)).map(
        (e) => JSON.parse(e) as Record<string, unknown>,
      );
      expect(entries.map((e) => [e.sub, e.at, (e.msg as { id: string }).id])).to.deep.equal([
        ['/user/queue/chat', 1000, '1'],
        ['/user/42/queue/chat', 1000, '2'],
      ]);
      expect(await redis!.pttl(`${keyPrefix}inbox:alice`)).to.be.within(1, 30_000);
    });

    it('trims the list to maxPerUser and deletes it when the last message is taken', async () => {
      const store = new RedisOfflineStore({ redis: redis!, keyPrefix, limits: { maxPerUser: 2, retentionMs: 30_000 } });
      for (let i = 0; i < 5; i++) await store.append('bob', '/user/queue/chat', userMessage(String(i), 'bob'));
      expect(await redis!.llen(`${keyPrefix}inbox:bob`)).to.equal(2);
      await store.append('bob', '/user/queue/other', userMessage('x', 'bob'));
      expect((await store.take('bob', '/user/queue/chat')).map((m) => m.id)).to.deep.equal(['4']);
      expect(await redis!.pttl(`${keyPrefix}inbox:bob`)).to.be.within(1, 30_000);
      await store.take('bob', '/user/queue/other');
      expect(await redis!.exists(`${keyPrefix}inbox:bob`)).to.equal(0);
    });

    it('refuses limits that would keep nothing', () => {
      expect(
        () => new RedisOfflineStore({ redis: redis!, keyPrefix, limits: { maxPerUser: 0, retentionMs: 1000 } }),
      ).to.throw(RangeError);
      expect(() => new MemoryOfflineStore({ maxPerUser: 1, retentionMs: 0 })).to.throw(RangeError);
    });
  });
});
