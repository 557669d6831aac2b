import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { encodeKeyPart, LUA_KEYS, redisKeys } from '../../server/redis/redis-keys.js';
import { requireService } from '../helpers/services.js';
import { connectTestRedis } from './redis-support.js';

const TRICKY_IDS = [
  '42',
  'bob@example.com',
  'a.b_c-d',
  'a:b',
  'x*',
  'user:bob',
  'a b',
  '%41',
  'é',
  '日本',
  '🙂',
  '{tag}',
  '[x]?',
  'a/b',
  '',
];

describe('redis-keys', () => {
  it('names keys {prefix}{kind}:{id} and keeps plain ids as they are', () => {
    const keys = redisKeys('stomp:');
    expect(keys.co('42')).to.equal('stomp:co:42');
    expect(keys.user('bob@example.com')).to.equal('stomp:user:bob@example.com');
    expect(keys.node('node-1.a_b')).to.equal('stomp:node:node-1.a_b');
    expect(keys.nodes()).to.equal('stomp:nodes');
    expect(keys.nodeUsers('n1')).to.equal('stomp:node-users:n1');
    expect(keys.nodeDocs('n1')).to.equal('stomp:node-docs:n1');
    expect(keys.inbox('alice')).to.equal('stomp:inbox:alice');
    expect(keys.pattern()).to.equal('stomp:*');
  });

  it('percent-encodes every other byte, so no id reaches another key or widens a pattern', () => {
    expect(encodeKeyPart('a:b')).to.equal('a%3Ab');
    expect(encodeKeyPart('x*')).to.equal('x%2A');
    expect(encodeKeyPart('%41')).to.equal('%2541');
    expect(encodeKeyPart('é')).to.equal('%C3%A9');
    for (const id of TRICKY_IDS) expect(encodeKeyPart(id)).to.match(/^[A-Za-z0-9._@%-]*$/);
    const encoded = TRICKY_IDS.map(encodeKeyPart);
    expect(new Set(encoded).size).to.equal(TRICKY_IDS.length);
    // Decoding gives the id back: the mapping is one-to-one.
    for (const id of TRICKY_IDS) expect(decodeURIComponent(encodeKeyPart(id))).to.equal(id);
  });

  it('refuses a prefix with glob characters', () => {
    expect(() => redisKeys('stomp*')).to.throw(RangeError);
  });

  describe('in Lua', function () {
    let redis: Redis | undefined;
    before(async function () {
      await requireService(this, 'redis');
      redis = await connectTestRedis();
    });
    after(async () => {
      await redis?.quit();
    });

    it('builds the same names as the TypeScript builders', async () => {
      const lua = `${LUA_KEYS}
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  out[#out + 1] = { K.co(ARGV[1], id), K.user(ARGV[1], id), K.node(ARGV[1], id), K.nodeUsers(ARGV[1], id), K.nodeDocs(ARGV[1], id), K.inbox(ARGV[1], id) }
end
out[#out + 1] = { K.nodes(ARGV[1]) }
return out`;
      const keys = redisKeys('stomp:');
      const fromLua = await redis!.eval(lua, 0, 'stomp:', ...TRICKY_IDS);
      const fromTs = [
        ...TRICKY_IDS.map((id) => [
          keys.co(id),
          keys.user(id),
          keys.node(id),
          keys.nodeUsers(id),
          keys.nodeDocs(id),
          keys.inbox(id),
        ]),
        [keys.nodes()],
      ];
      expect(fromLua).to.deep.equal(fromTs);
    });
  });
});
