import type { RelayMessage } from '../relay/relay-message.js';
import {
  checkNoClientKeyPrefix,
  RedisScript,
  waitForReplicas,
  type RedisConnection,
  type ScriptArg,
} from '../redis/redis-script.js';
import { decodeRecords, encodePrefixedRecord } from '../relay/relay-envelope.js';
import { relayMessageFromJson } from '../store/relay-message-json.js';
import { newEpoch } from './epoch.js';
import {
  checkHistoryLimits,
  HISTORY_META_TTL_MS,
  type History,
  type HistoryEntry,
  type HistoryLimits,
  type Recovery,
  type StreamId,
  type StreamPosition,
} from './history.js';
import { historyKeys, type HistoryKeys } from './history-keys.js';

export interface RedisHistoryOptions {
  /** The connection; owned by the caller (`close()` does not quit it). No ioredis `keyPrefix`. */
  readonly redis: RedisConnection;
  /** `KEY_PREFIX`, separator included. */
  readonly keyPrefix: string;
  /** `size` and `ttlMs` (HISTORY_SIZE, HISTORY_TTL_MS); `metaTtlMs` defaults to 24 h. */
  readonly limits: Omit<HistoryLimits, 'metaTtlMs'> & Partial<Pick<HistoryLimits, 'metaTtlMs'>>;
  /** Clock in epoch ms: append stamps and the TTL cutoff, and the time part of new epochs. @default Date.now */
  readonly now?: () => number;
  /**
   * REDIS_WAIT_REPLICAS: replicas that must hold an append (Redis WAIT) before it resolves; with
   * fewer within WAIT_TIMEOUT_MS it rejects (the message is not accepted). @default 0
   */
  readonly waitReplicas?: number;
}

// Every script takes KEYS[1] meta, KEYS[2] log (one hash slot) and begins with ENSURE, which
// needs ARGV[1] (an epoch to use if the stream must be created) and ARGV[2] (metaTtlMs). It
// leaves `epoch` and `top` set. A missing meta means the history was lost: the log goes with it,
// so the log always holds a contiguous run of offsets ending at `top`.
const ENSURE = `
local m = redis.call('HMGET', KEYS[1], 'e', 'o')
local epoch, top = m[1], tonumber(m[2]) or 0
if not epoch then
  epoch, top = ARGV[1], 0
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;

// ARGV[3] size, ARGV[4] ttlMs, ARGV[5] the batch packed (packBatch): per message a u32le length
// and its id, a u32le length and its entry ("<at> <record>"), in order. One argument and a
// constant number of Redis calls per batch (not three per message): most of an append's cost was
// per-argument and per-call overhead. An id the stream still keeps (a sender's re-send) is not
// appended again: it gets its first offset. Returns { epoch, offset of each message }.
const APPEND = new RedisScript(
  'stompRelayHistory_append',
  `${ENSURE}
local size, packed, at = tonumber(ARGV[3]), ARGV[5], 1
local ids, entries = {}, {}
while at <= #packed do
  local n = struct.unpack('<I4', packed, at)
  ids[#ids + 1] = string.sub(packed, at + 4, at + 3 + n)
  at = at + 4 + n
  n = struct.unpack('<I4', packed, at)
  entries[#entries + 1] = string.sub(packed, at + 4, at + 3 + n)
  at = at + 4 + n
end
local seen = redis.call('ZMSCORE', KEYS[3], unpack(ids))
local out, fresh, log, scored = { epoch }, {}, {}, {}
for i = 1, #ids do
  local id = ids[i]
  local offset = seen[i] and tonumber(seen[i]) or fresh[id]
  if not offset then
    top = top + 1
    offset = top
    fresh[id] = top
    log[#log + 1] = entries[i]
    scored[#scored + 1] = top
    scored[#scored + 1] = id
  end
  out[#out + 1] = offset
end
if #log > 0 then
  redis.call('RPUSH', KEYS[2], unpack(log))
  redis.call('ZADD', KEYS[3], unpack(scored))
  redis.call('HSET', KEYS[1], 'o', top)
  if redis.call('LLEN', KEYS[2]) > size then redis.call('LTRIM', KEYS[2], -size, -1) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', top - size)
end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return out`,
  3,
);

/**
 * Append scripts in flight per stream at most: a second one goes out while the first runs (Redis
 * runs them in the order sent on the connection, so offsets keep the order of the appends), and
 * further appends wait and go together in the next. One on a Redis Cluster, whose redirections
 * and retries during a failover could run two in another order.
 */
const MAX_IN_FLIGHT = 2;

/** Messages sent in one append script at most (Lua's unpack, for ZMSCORE and ZADD, has a stack limit of about 8000). */
const MAX_BATCH = 500;

interface Waiter {
  readonly id: string;
  readonly entry: Buffer;
  readonly resolve: (position: StreamPosition) => void;
  readonly reject: (err: unknown) => void;
}

// Returns { epoch, offset }.
const POSITION = new RedisScript('stompRelayHistory_position', `${ENSURE}\nreturn { epoch, top }`, 3);

// ARGV[3] the client's epoch, ARGV[4] its offset, ARGV[5] cutoff (entries appended at or before
// it have expired). Returns { epoch, top, 0 } or { epoch, top, 1, { entries after the offset } }.
const SINCE = new RedisScript(
  'stompRelayHistory_since',
  `${ENSURE}
local want = tonumber(ARGV[4])
if epoch ~= ARGV[3] or want == nil or want < 0 or want > top then return { epoch, top, 0 } end
if want == top then return { epoch, top, 1, {} } end
local first = top - redis.call('LLEN', KEYS[2]) + 1
if want + 1 < first then return { epoch, top, 0 } end
local entries = redis.call('LRANGE', KEYS[2], want + 1 - first, -1)
local at = tonumber(string.match(entries[1] or '', '^(%d+) '))
if at == nil or at <= tonumber(ARGV[5]) then return { epoch, top, 0 } end
return { epoch, top, 1, entries }`,
  3,
);

// ARGV[1] epoch, ARGV[2] from, ARGV[3] to, ARGV[4] cutoff. Creates nothing.
// Returns { offset, entry, offset, entry, ... } of the kept, unexpired entries in the range.
const RANGE = new RedisScript(
  'stompRelayHistory_range',
  `
local m = redis.call('HMGET', KEYS[1], 'e', 'o')
if m[1] ~= ARGV[1] then return {} end
local top = tonumber(m[2]) or 0
local first = top - redis.call('LLEN', KEYS[2]) + 1
local from, to = math.max(tonumber(ARGV[2]), first), math.min(tonumber(ARGV[3]), top)
if from > to then return {} end
local out, cutoff, offset = {}, tonumber(ARGV[4]), from
for _, e in ipairs(redis.call('LRANGE', KEYS[2], from - first, to - first)) do
  local at = tonumber(string.match(e, '^(%d+) '))
  if at ~= nil and at > cutoff then
    out[#out + 1] = offset
    out[#out + 1] = e
  end
  offset = offset + 1
end
return out`,
  3,
);

/**
 * The cluster's history on Redis: per stream a hash (epoch, newest offset) and a list of the last
 * `size` messages, both in the stream's hash slot (history-keys.ts). Every operation is one Lua
 * script, so an append's offset, its entry and the trim happen at once: concurrent appends from
 * every node get consecutive offsets with no gap.
 *
 * Cost per accepted message of a stream: its share of one EVALSHA (a fixed dozen of Redis calls
 * per batch: ZMSCORE, RPUSH, ZADD, the trims and expiries): one script per message on a quiet
 * stream, one per batch of up to 500 on a busy one. In memory, its binary entry until it leaves
 * the list.
 */
export class RedisHistory implements History {
  /** The key names this history uses (tests, tooling). */
  readonly keys: HistoryKeys;
  readonly #redis: RedisConnection;
  readonly #limits: HistoryLimits;
  readonly #now: () => number;
  readonly #waitReplicas: number;
  readonly #maxInFlight: number;
  /** Appends not yet sent, per stream. */
  readonly #queued = new Map<StreamId, Waiter[]>();
  /** Append scripts in flight, per stream. */
  readonly #sending = new Map<StreamId, number>();

  constructor(options: RedisHistoryOptions) {
    checkNoClientKeyPrefix(options.redis);
    const { size, ttlMs } = options.limits;
    const limits: HistoryLimits = {
      size,
      ttlMs,
      metaTtlMs: options.limits.metaTtlMs ?? Math.max(HISTORY_META_TTL_MS, ttlMs),
    };
    checkHistoryLimits(limits);
    this.keys = historyKeys(options.keyPrefix);
    this.#redis = options.redis;
    this.#limits = limits;
    this.#now = options.now ?? Date.now;
    this.#waitReplicas = options.waitReplicas ?? 0;
    this.#maxInFlight = options.redis.isCluster ? 1 : MAX_IN_FLIGHT;
  }

  /**
   * Appends made in one tick go together in one script, and while two scripts of the stream (one
   * on a Redis Cluster) are in flight the next ones wait and go together: a busy stream costs one
   * round trip per batch, an idle one sends at once, and a node's appends to one stream keep the
   * order they were made in (one connection: Redis runs the scripts in the order sent).
   */
  append(stream: StreamId, message: RelayMessage): Promise<StreamPosition> {
    const entry = historyEntry(this.#now(), message);
    return new Promise((resolve, reject) => {
      const queued = this.#queued.get(stream);
      if (queued) {
        queued.push({ id: message.id, entry, resolve, reject });
        return;
      }
      this.#queued.set(stream, [{ id: message.id, entry, resolve, reject }]);
      if ((this.#sending.get(stream) ?? 0) < this.#maxInFlight) queueMicrotask(() => this.#send(stream));
    });
  }

  #send(stream: StreamId): void {
    const queued = this.#queued.get(stream);
    const sending = this.#sending.get(stream) ?? 0;
    if (!queued || sending >= this.#maxInFlight) return;
    const batch = queued.length > MAX_BATCH ? queued.splice(0, MAX_BATCH) : queued;
    if (batch === queued) this.#queued.delete(stream);
    this.#sending.set(stream, sending + 1);
    const args: ScriptArg[] = [
      ...this.#streamKeys(stream),
      newEpoch(this.#now()),
      this.#limits.metaTtlMs,
      this.#limits.size,
      this.#limits.ttlMs,
    ];
    args.push(packBatch(batch));
    APPEND.run(this.#redis, args)
      .then(async (reply) => {
        if (!Array.isArray(reply) || typeof reply[0] !== 'string' || reply.length !== batch.length + 1)
          throw new Error('unexpected reply from the history append script');
        // A failover to a replica without the append would hand its offsets to other messages,
        // which every subscription past them would drop as copies it had.
        await waitForReplicas(this.#redis, this.#waitReplicas, 'history append');
        const epoch = reply[0];
        batch.forEach((w, i) => w.resolve({ epoch, offset: Number(reply[i + 1]) }));
      })
      .catch((err: unknown) => {
        for (const w of batch) w.reject(err);
      })
      .finally(() => {
        const left = (this.#sending.get(stream) ?? 1) - 1;
        if (left === 0) this.#sending.delete(stream);
        else this.#sending.set(stream, left);
        this.#send(stream);
      });
  }

  async position(stream: StreamId): Promise<StreamPosition> {
    const now = this.#now();
    return positionOf(
      await POSITION.run(this.#redis, [...this.#streamKeys(stream), newEpoch(now), this.#limits.metaTtlMs]),
    );
  }

  async since(stream: StreamId, epoch: string, offset: number): Promise<Recovery> {
    const now = this.#now();
    // An offset that is not a plain non-negative integer can match nothing; Lua gets -1 for it.
    const wanted = Number.isSafeInteger(offset) && offset >= 0 ? offset : -1;
    const args = [
      ...this.#streamKeys(stream),
      newEpoch(now),
      this.#limits.metaTtlMs,
      epoch,
      wanted,
      now - this.#limits.ttlMs,
    ];
    const reply = await SINCE.run(this.#redis, args, true);
    if (!Array.isArray(reply)) throw new Error('unexpected reply from the history since script');
    const position = positionOf(reply);
    if (reply[2] !== 1) return { recovered: false, position };
    const entries: unknown = reply[3];
    if (!Array.isArray(entries)) throw new Error('unexpected reply from the history since script');
    const messages = entries.map((e, i) => ({ offset: wanted + 1 + i, message: messageOf(e) }));
    return { recovered: true, position, messages };
  }

  async range(stream: StreamId, epoch: string, from: number, to: number): Promise<HistoryEntry[]> {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from > to) return [];
    const reply = await RANGE.run(
      this.#redis,
      [...this.#streamKeys(stream), epoch, from, to, this.#now() - this.#limits.ttlMs],
      true,
    );
    if (!Array.isArray(reply)) throw new Error('unexpected reply from the history range script');
    const out: HistoryEntry[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2)
      out.push({ offset: Number(reply[i]), message: messageOf(reply[i + 1]) });
    return out;
  }

  /** Nothing to release: the connection belongs to the caller, and the keys expire by themselves. */
  async close(): Promise<void> {}

  #streamKeys(stream: StreamId): [string, string, string] {
    return [this.keys.meta(stream), this.keys.log(stream), this.keys.ids(stream)];
  }
}

function positionOf(reply: unknown): StreamPosition {
  const epoch: unknown = Array.isArray(reply) ? reply[0] : undefined;
  if (typeof epoch !== 'string' && !Buffer.isBuffer(epoch)) throw new Error('unexpected reply from a history script');
  return { epoch: epoch.toString(), offset: Number((reply as unknown[])[1]) };
}

/** The append script's ARGV[5]: each waiter's id and entry, both prefixed with their u32le byte length. */
function packBatch(batch: readonly Waiter[]): Buffer {
  let length = 0;
  for (const w of batch) length += 8 + Buffer.byteLength(w.id) + w.entry.length;
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (const w of batch) {
    const idBytes = out.write(w.id, at + 4);
    out.writeUInt32LE(idBytes, at);
    at += 4 + idBytes;
    out.writeUInt32LE(w.entry.length, at);
    at += 4 + w.entry.copy(out, at + 4);
  }
  return out;
}

/**
 * A log entry: `"<appendedAtMs> "` (what the scripts read to expire it) and the message as a
 * relay batch of one (relay-envelope.ts: its id, then its binary envelope), so the body is kept as
 * it is, not as base64 in JSON.
 */
function historyEntry(at: number, message: RelayMessage): Buffer {
  return encodePrefixedRecord(`${at} `, message);
}

/** The message of a log entry (an entry of an earlier version holds it as JSON). */
function messageOf(entry: unknown): RelayMessage {
  const bytes = Buffer.isBuffer(entry) ? entry : Buffer.from(String(entry), 'utf8');
  const rest = bytes.subarray(bytes.indexOf(0x20) + 1);
  if (rest[0] === 0x7b) return relayMessageFromJson(rest.toString('utf8')); // '{'
  const [record] = decodeRecords(undefined, rest);
  if (!record || !('msg' in record))
    throw new Error(`undecodable history entry${record ? `: ${record.error.message}` : ''}`);
  return record.msg;
}
