import { expect } from 'chai';
import { Redis } from 'ioredis';
import { MemoryHistory } from '../../server/history/memory-history.js';
import { RedisHistory } from '../../server/history/redis-history.js';
import { decodeRecords } from '../../server/relay/relay-envelope.js';
import { relayMessageToJson } from '../../server/store/relay-message-json.js';
import { requireService, TEST_REDIS_URL, uniquePrefix } from '../helpers/services.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { connectTestRedis, deleteKeysUnder, keysUnder } from '../registry/redis-support.js';
import { historyContract, streamMessage } from './history.contract.js';

historyContract('MemoryHistory', async (limits, now, advance) => {
  const history = new MemoryHistory({ limits, now });
  return {
    histories: [history, history],
    // In memory a stream is lost when nobody touched it for metaTtlMs (or it was evicted).
    lose: async () => advance(limits.metaTtlMs),
    cleanup: () => history.close(),
  };
});

describe('MemoryHistory', () => {
  it('forgets the least recently touched stream past maxStreams, which then starts over with a new epoch', async () => {
    const history = new MemoryHistory({ limits: { size: 10, ttlMs: 1000 }, maxStreams: 2 });
    try {
      const a = await history.append('/topic/a', streamMessage('a1'));
      await history.append('/topic/b', streamMessage('b1'));
      await history.position('/topic/a'); // a is now the most recent; b goes first
      await history.append('/topic/c', streamMessage('c1'));
      expect(await history.position('/topic/a')).to.deep.equal(a);
      const b = await history.since('/topic/b', a.epoch, 1);
      expect(b.recovered).to.equal(false);
      expect(b.position.offset).to.equal(0);
    } finally {
      await history.close();
    }
  });

  it('refuses limits that would keep nothing', () => {
    expect(() => new MemoryHistory({ limits: { size: 0, ttlMs: 1000 } })).to.throw(RangeError);
    expect(() => new MemoryHistory({ limits: { size: 1, ttlMs: 0 } })).to.throw(RangeError);
    expect(() => new MemoryHistory({ limits: { size: 1, ttlMs: 1000, metaTtlMs: 999 } })).to.throw(RangeError);
    expect(() => new MemoryHistory({ limits: { size: 1, ttlMs: 1000 }, maxStreams: 0 })).to.throw(RangeError);
  });
});

describe('RedisHistory', function () {
  const runPrefix = uniquePrefix('history');
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

  historyContract('RedisHistory', async (limits, now) => {
    const keyPrefix = `${runPrefix}${++fixtures}:`;
    const second = await connectTestRedis();
    const histories = [
      new RedisHistory({ redis: redis!, keyPrefix, limits, now }),
      new RedisHistory({ redis: second, keyPrefix, limits, now }),
    ] as const;
    return {
      histories,
      // Expiry or eviction of the stream's keys.
      lose: async (stream) => void (await redis!.del(histories[0].keys.meta(stream), histories[0].keys.log(stream))),
      async cleanup() {
        await Promise.all(histories.map((h) => h.close()));
        await deleteKeysUnder(redis!, keyPrefix);
        await second.quit();
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

    /** Redis Cluster hashes only the part inside the first `{…}` of a key (when non-empty). */
    function hashTag(key: string): string {
      const open = key.indexOf('{');
      const close = key.indexOf('}', open + 1);
      expect(open, key).to.be.greaterThan(-1);
      expect(close, key).to.be.greaterThan(open + 1);
      return key.slice(open + 1, close);
    }

    it('keeps a stream in two keys of one hash slot, {prefix}history:{stream}:meta and :log, streams in different slots', () => {
      const history = new RedisHistory({ redis: redis!, keyPrefix, limits: { size: 5, ttlMs: 1000 } });
      const { meta, log } = history.keys;
      expect(meta('/topic/a')).to.equal(`${keyPrefix}history:{%2Ftopic%2Fa}:meta`);
      expect(log('/topic/a')).to.equal(`${keyPrefix}history:{%2Ftopic%2Fa}:log`);
      for (const stream of ['/topic/a', '/user/x%7By%7D/queue/c', 'a}b{c'])
        expect(hashTag(meta(stream))).to.equal(hashTag(log(stream)));
      expect(hashTag(meta('/topic/a'))).to.not.equal(hashTag(meta('/topic/b')));
      expect(() => new RedisHistory({ redis: redis!, keyPrefix: 'x{y}:', limits: { size: 5, ttlMs: 1000 } })).to.throw(
        RangeError,
      );
    });

    it('stores epoch and offset in the hash and "<at> <binary record>" entries in the list, the ids beside them, trimmed to size, with TTLs', async () => {
      const history = new RedisHistory({
        redis: redis!,
        keyPrefix,
        limits: { size: 2, ttlMs: 30_000, metaTtlMs: 90_000 },
        now: () => 1234,
      });
      for (const id of ['1', '2', '3']) await history.append('/topic/a', streamMessage(id));
      const { meta, log } = history.keys;
      const hash = await redis!.hgetall(meta('/topic/a'));
      expect(hash.o).to.equal('3');
      expect(hash.e).to.be.a('string');
      const entries = await redis!.lrangeBuffer(log('/topic/a'), 0, -1);
      expect(entries.map((e) => e.subarray(0, 5).toString())).to.deep.equal(['1234 ', '1234 ']);
      // The message as a relay batch of one: the body's bytes as they are, no base64.
      const records = entries.map((e) => decodeRecords(undefined, e.subarray(5))[0]);
      expect(records.map((r) => r?.id)).to.deep.equal(['2', '3']);
      expect(records.map((r) => (r && 'msg' in r ? r.msg.body.toString() : 'undecodable'))).to.deep.equal([
        'body of 2',
        'body of 3',
      ]);
      expect(await redis!.zrange(history.keys.ids('/topic/a'), '0', '-1', 'WITHSCORES')).to.deep.equal([
        '2',
        '2',
        '3',
        '3',
      ]);
      expect(await redis!.pttl(log('/topic/a'))).to.be.within(1, 30_000);
      expect(await redis!.pttl(history.keys.ids('/topic/a'))).to.be.within(1, 30_000);
      expect(await redis!.pttl(meta('/topic/a'))).to.be.within(30_001, 90_000);
    });

    it('still reads a log entry of an earlier version ("<at> <relay message JSON>")', async () => {
      const history = new RedisHistory({
        redis: redis!,
        keyPrefix,
        limits: { size: 10, ttlMs: 30_000 },
        now: () => 1234,
      });
      const { epoch } = await history.append('/topic/old', streamMessage('1'));
      await redis!.rpush(history.keys.log('/topic/old'), `1234 ${relayMessageToJson(streamMessage('2'))}`);
      await redis!.hset(history.keys.meta('/topic/old'), 'o', 2);
      const recovery = await history.since('/topic/old', epoch, 0);
      expect(
        recovery.recovered && recovery.messages.map((e) => [e.offset, e.message.id, e.message.body.toString()]),
      ).to.deep.equal([
        [1, '1', streamMessage('1').body.toString()],
        [2, '2', streamMessage('2').body.toString()],
      ]);
    });

    it('starts over cleanly when the meta is evicted but the log is not', async () => {
      const history = new RedisHistory({ redis: redis!, keyPrefix, limits: { size: 10, ttlMs: 30_000 } });
      const old = await history.append('/topic/a', streamMessage('1'));
      await history.append('/topic/a', streamMessage('2'));
      await redis!.del(history.keys.meta('/topic/a'));
      const fresh = await history.append('/topic/a', streamMessage('3'));
      expect(fresh.offset).to.equal(1);
      expect(fresh.epoch).to.not.equal(old.epoch);
      const recovery = await history.since('/topic/a', fresh.epoch, 0);
      expect(recovery.recovered && recovery.messages.map((e) => e.message.id)).to.deep.equal(['3']);
    });

    it('sends the appends made at once to one stream in a few scripts, more than one script holds, in order', async () => {
      const counted = await connectTestRedis();
      let commands = 0;
      const send = counted.sendCommand.bind(counted);
      counted.sendCommand = (...args: Parameters<Redis['sendCommand']>) => {
        commands++;
        return send(...args);
      };
      try {
        const history = new RedisHistory({ redis: counted, keyPrefix, limits: { size: 2000, ttlMs: 30_000 } });
        const positions = await Promise.all(
          Array.from({ length: 1200 }, (_, i) => history.append('/topic/a', streamMessage(`m${i}`))),
        );
        expect(positions.map((p) => p.offset)).to.deep.equal(Array.from({ length: 1200 }, (_, i) => i + 1));
        // 500 entries a script at most; EVALSHA may be retried as EVAL once per connection.
        expect(commands).to.be.within(3, 4);
        expect(await redis!.llen(history.keys.log('/topic/a'))).to.equal(1200);
      } finally {
        await counted.quit();
      }
    });

    it('has two scripts of a stream in flight at most: the appends of later ticks wait and go together, in order', async () => {
      // Through a stalled proxy no reply comes back, so what was sent meanwhile can be counted.
      const proxy = await startTcpProxy(TEST_REDIS_URL);
      const slow = new Redis(proxy.url(TEST_REDIS_URL), { lazyConnect: true, maxRetriesPerRequest: 1 });
      let scripts = 0;
      const send = slow.sendCommand.bind(slow);
      slow.sendCommand = (...args: Parameters<Redis['sendCommand']>) => {
        if (/^eval/i.test(args[0].name)) scripts++;
        return send(...args);
      };
      try {
        await slow.connect();
        const history = new RedisHistory({ redis: slow, keyPrefix, limits: { size: 100, ttlMs: 30_000 } });
        proxy.stall();
        const appends: Promise<{ offset: number }>[] = [];
        for (let tick = 0; tick < 4; tick++) {
          appends.push(history.append('/topic/a', streamMessage(`m${tick}a`)));
          appends.push(history.append('/topic/a', streamMessage(`m${tick}b`)));
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(scripts, 'scripts sent while none answered').to.equal(2);
        proxy.restore();
        const offsets = (await Promise.all(appends)).map((p) => p.offset);
        expect(offsets).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
        expect(scripts, 'the two ticks that waited went in one script').to.equal(3);
      } finally {
        slow.disconnect();
        await proxy.close();
      }
    });

    it('rejects every append of a script that fails, and nothing else is stored', async () => {
      const broken = await connectTestRedis();
      const history = new RedisHistory({ redis: broken, keyPrefix, limits: { size: 10, ttlMs: 30_000 } });
      await broken.quit();
      const results = await Promise.allSettled([
        history.append('/topic/a', streamMessage('1')),
        history.append('/topic/a', streamMessage('2')),
      ]);
      expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
      expect(await keysUnder(redis!, keyPrefix)).to.deep.equal([]);
    });

    it('creates no key for a range read', async () => {
      const history = new RedisHistory({ redis: redis!, keyPrefix, limits: { size: 10, ttlMs: 30_000 } });
      expect(await history.range('/topic/none', 'e', 1, 10)).to.deep.equal([]);
      expect(await keysUnder(redis!, keyPrefix)).to.deep.equal([]);
    });
  });
});
