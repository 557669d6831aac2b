import { expect } from 'chai';
import { Redis } from 'ioredis';
import { checkUpdate, COMPACT_AFTER } from '../../server/yjs/doc-states.js';
import { MemoryDocStates } from '../../server/yjs/memory-doc-states.js';
import { docStateKeys, RedisDocStates } from '../../server/yjs/redis-doc-states.js';
import { deleteRedisKeys } from '../helpers/cleanup.js';
import { requireService, TEST_REDIS_URL, uniquePrefix } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { docStatesContract, editor, LIMITS, textOf } from './doc-states.contract.js';

describe('checkUpdate', () => {
  it('takes real updates and refuses bytes that are not one', () => {
    const a = editor();
    a.text.insert(0, 'x');
    expect(checkUpdate(a.updates[0]!)).to.equal(undefined);
    expect(checkUpdate(new Uint8Array())).to.match(/empty/);
    expect(checkUpdate(Buffer.from('{"not":"yjs"}'))).to.match(/not a Yjs update/);
    expect(checkUpdate(Uint8Array.from([1, 200, 200, 200, 200, 200, 7]))).to.match(/not a Yjs update/);
  });
});

docStatesContract('memory', async (limits) => ({ states: new MemoryDocStates(limits) }));

describe('document states in Redis', () => {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  const prefix = uniquePrefix('ydoc');
  before(async function () {
    await requireService(this, 'redis');
    await redis.connect();
  });
  after(async () => {
    if (redis.status === 'ready') await deleteRedisKeys(redis, prefix);
    redis.disconnect();
  });

  docStatesContract(
    'redis',
    async (limits) => {
      const sub = `${prefix}${Math.random().toString(36).slice(2, 8)}:`;
      const make = () => new RedisDocStates({ redis, keyPrefix: sub, limits });
      return { states: make(), more: make };
    },
    true,
  );

  it('keeps a merged log of a few entries, not every keystroke, and expires it with the document', async () => {
    const states = new RedisDocStates({ redis, keyPrefix: prefix, limits: LIMITS });
    const a = editor();
    for (let i = 0; i < COMPACT_AFTER * 4; i++) a.text.insert(a.text.length, 'k');
    for (const u of a.updates) await states.apply('keys', u);
    const keys = docStateKeys(prefix, 'keys');
    await waitFor(async () => (await redis.llen(keys.log)) <= COMPACT_AFTER, 'the log merged');
    expect(await redis.pttl(keys.log)).to.be.within(1, LIMITS.ttlMs);
    expect(await redis.pttl(keys.meta)).to.be.within(1, LIMITS.ttlMs);
    expect(textOf(await states.state('keys'))).to.equal('k'.repeat(COMPACT_AFTER * 4));
  });
});
