import type { RelayMessage } from '../relay/relay-message.js';
import { relayMessageFromJson, relayMessageToJson } from './relay-message-json.js';
import type { Destination, UserId } from '../ids.js';
import { redisKeys, type RedisKeys } from '../redis/redis-keys.js';
import { checkNoClientKeyPrefix, RedisScript, waitForReplicas, type RedisConnection } from '../redis/redis-script.js';
import { checkOfflineStoreLimits, type OfflineDropListener } from './offline-drop.js';
import type { OfflineStore, OfflineStoreLimits } from './offline-store.js';

export interface RedisOfflineStoreOptions {
  /** The connection; owned by the caller (`close()` does not quit it). No ioredis `keyPrefix`. */
  readonly redis: RedisConnection;
  /** `KEY_PREFIX`, separator included; the inbox of user U is `{keyPrefix}inbox:{U}`. */
  readonly keyPrefix: string;
  readonly limits: OfflineStoreLimits;
  /** Clock in epoch ms, stamped on entries and compared with them. @default Date.now */
  readonly now?: () => number;
  /** Told about messages dropped by the bound or by retention (for metrics). */
  readonly onDropped?: OfflineDropListener;
  /** REDIS_WAIT_REPLICAS: replicas that must hold a stored message before `append` resolves. @default 0 */
  readonly waitReplicas?: number;
}

// KEYS[1] inbox; ARGV: entry, maxPerUser, retentionMs. Returns how many old entries it dropped.
const APPEND = new RedisScript(
  'stompRelayInbox_append',
  `
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
local max = tonumber(ARGV[2])
if n > max then redis.call('LTRIM', KEYS[1], -max, -1) end
-- The whole list lives retentionMs after its newest entry; older entries are filtered by 'at'.
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return math.max(n - max, 0)`,
  1,
);

// KEYS[1] inbox; ARGV: subscription, cutoff (entries with at <= cutoff are expired).
// Returns { expired count, taken entries... } and leaves only the others, in order.
const TAKE = new RedisScript(
  'stompRelayInbox_take',
  `
local all = redis.call('LRANGE', KEYS[1], 0, -1)
if #all == 0 then return { 0 } end
local sub, cutoff = ARGV[1], tonumber(ARGV[2])
local out, keep, expired = { 0 }, {}, 0
for _, e in ipairs(all) do
  local ok, v = pcall(cjson.decode, e)
  if not ok or type(v) ~= 'table' or type(v.at) ~= 'number' or v.at <= cutoff then
    expired = expired + 1
  elseif v.sub == sub then
    out[#out + 1] = e
  else
    keep[#keep + 1] = e
  end
end
out[1] = expired
if #out == 1 and expired == 0 then return out end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
-- unpack() is bounded by Lua's C stack, so push back in slices.
for i = 1, #keep, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(keep, i, math.min(i + 999, #keep)))
end
if #keep > 0 and ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return out`,
  1,
);

// KEYS[1] inbox; ARGV: cutoff. Counts the unexpired entries without changing anything.
const COUNT = new RedisScript(
  'stompRelayInbox_count',
  `
local cutoff, n = tonumber(ARGV[1]), 0
for _, e in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local ok, v = pcall(cjson.decode, e)
  if ok and type(v) == 'table' and type(v.at) == 'number' and v.at > cutoff then n = n + 1 end
end
return n`,
  1,
);

/**
 * The offline inbox on Redis (SPEC §5): one list per user, `{prefix}inbox:{userId}`, entries
 * `{"sub": subscription, "at": epochMs, "msg": <relayMessageToJson>}` oldest first (`msg` is
 * the message's JSON object, embedded).
 *
 * `append` is one script: RPUSH, LTRIM to `maxPerUser` (oldest dropped), PEXPIRE `retentionMs`.
 * `take` is one script that removes exactly the entries of one subscription and drops expired
 * ones, so two nodes taking at once never both get a message.
 */
export class RedisOfflineStore implements OfflineStore {
  /** The key names this store uses (for tests and tooling). */
  readonly keys: RedisKeys;
  readonly #redis: RedisConnection;
  readonly #limits: OfflineStoreLimits;
  readonly #now: () => number;
  readonly #waitReplicas: number;
  readonly #onDropped: OfflineDropListener | undefined;

  constructor(options: RedisOfflineStoreOptions) {
    checkNoClientKeyPrefix(options.redis);
    checkOfflineStoreLimits(options.limits);
    this.keys = redisKeys(options.keyPrefix);
    this.#redis = options.redis;
    this.#limits = options.limits;
    this.#now = options.now ?? Date.now;
    this.#onDropped = options.onDropped;
    this.#waitReplicas = options.waitReplicas ?? 0;
  }

  /** Resolves once Redis holds the message; past `maxPerUser` the oldest entries are gone. */
  async append(userId: UserId, subscription: Destination, msg: RelayMessage): Promise<void> {
    const entry = `{"sub":${JSON.stringify(subscription)},"at":${this.#now()},"msg":${relayMessageToJson(msg)}}`;
    const dropped = await APPEND.run(this.#redis, [
      this.keys.inbox(userId),
      entry,
      this.#limits.maxPerUser,
      this.#limits.retentionMs,
    ]);
    if (typeof dropped === 'number' && dropped > 0) this.#onDropped?.(userId, dropped, 'bound');
    await waitForReplicas(this.#redis, this.#waitReplicas, 'offline message');
  }

  /** Removes and returns the unexpired messages for `subscription`, oldest first; each is returned once. */
  async take(userId: UserId, subscription: Destination): Promise<RelayMessage[]> {
    const reply = await TAKE.run(this.#redis, [this.keys.inbox(userId), subscription, this.#cutoff()]);
    if (!Array.isArray(reply)) throw new Error('unexpected reply from the inbox take script');
    const [expired, ...entries] = reply as unknown[];
    if (typeof expired === 'number' && expired > 0) this.#onDropped?.(userId, expired, 'expired');
    return entries.map((e) => {
      const { msg } = JSON.parse(String(e)) as { msg: unknown };
      return relayMessageFromJson(JSON.stringify(msg));
    });
  }

  /** Unexpired messages kept for the user, all subscriptions. */
  async count(userId: UserId): Promise<number> {
    const n = await COUNT.run(this.#redis, [this.keys.inbox(userId), this.#cutoff()]);
    return typeof n === 'number' ? n : Number(n);
  }

  /** Nothing to release: the connection belongs to the caller. */
  async close(): Promise<void> {}

  /** Entries stamped at or before this are past retention. */
  #cutoff(): number {
    return this.#now() - this.#limits.retentionMs;
  }
}
