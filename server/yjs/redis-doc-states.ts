import type { DocId } from '../ids.js';
import { encodeKeyPart } from '../redis/redis-keys.js';
import { checkNoClientKeyPrefix, RedisScript, type RedisConnection } from '../redis/redis-script.js';
import { COMPACT_AFTER, DocTooLarge, mergeAll, type DocStateLimits, type DocStates } from './doc-states.js';

/**
 * The keys of one document carry its encoded id as their hash tag (one slot per document on
 * Redis Cluster, so each script touches one slot):
 *
 * | key                        | type | holds                                                        |
 * |----------------------------|------|--------------------------------------------------------------|
 * | `{p}ydoc:{<doc>}:log`      | list | Yjs updates, oldest first; the first is often a merge of earlier ones |
 * | `{p}ydoc:{<doc>}:meta`     | hash | `b` bytes in the log, `g` merges done (a merge checks it did not race another) |
 *
 * Both expire `ttlMs` after the last write.
 */
export function docStateKeys(prefix: string, doc: DocId): { log: string; meta: string } {
  const tagged = `${prefix}ydoc:{${encodeKeyPart(doc)}}`;
  return { log: `${tagged}:log`, meta: `${tagged}:meta` };
}

// KEYS log, meta; ARGV update, maxBytes, ttlMs. Returns the log's length, or -1 past maxBytes.
const APPEND = new RedisScript(
  'stompRelayYdoc_append',
  `
local bytes = (tonumber(redis.call('HGET', KEYS[2], 'b')) or 0) + string.len(ARGV[1])
if bytes > tonumber(ARGV[2]) then return -1 end
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'b', bytes)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return n
`,
  2,
);

// KEYS log, meta; ARGV generation read with the log, n updates merged, the merge, their bytes,
// ttlMs. Replaces the first n updates by their merge unless another merge ran since the read
// (updates are only ever appended, so the first n are still the ones read). Returns 1 or 0.
const COMPACT = new RedisScript(
  'stompRelayYdoc_compact',
  `
if (redis.call('HGET', KEYS[2], 'g') or '0') ~= ARGV[1] then return 0 end
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[2]) then return 0 end
redis.call('LTRIM', KEYS[1], ARGV[2], -1)
redis.call('LPUSH', KEYS[1], ARGV[3])
redis.call('HINCRBY', KEYS[2], 'b', string.len(ARGV[3]) - tonumber(ARGV[4]))
redis.call('HINCRBY', KEYS[2], 'g', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
`,
  2,
);

export interface RedisDocStatesOptions {
  /** The connection; owned by the caller. No ioredis `keyPrefix`. */
  readonly redis: RedisConnection;
  readonly keyPrefix: string;
  readonly limits: DocStateLimits;
  /** A background merge failed (the log stays as it was; the next append tries again). */
  readonly onError?: (err: Error) => void;
}

/** Cluster mode's document states: an update log per document in Redis, merged past {@link COMPACT_AFTER}. */
export class RedisDocStates implements DocStates {
  readonly #redis: RedisConnection;
  readonly #prefix: string;
  readonly #limits: DocStateLimits;
  readonly #onError: (err: Error) => void;
  /** Documents this node is merging now: one merge per document at a time from here. */
  readonly #merging = new Set<DocId>();

  constructor(options: RedisDocStatesOptions) {
    checkNoClientKeyPrefix(options.redis);
    this.#redis = options.redis;
    this.#prefix = options.keyPrefix;
    this.#limits = options.limits;
    this.#onError = options.onError ?? (() => {});
  }

  async apply(doc: DocId, update: Uint8Array): Promise<void> {
    const keys = docStateKeys(this.#prefix, doc);
    const body = Buffer.from(update.buffer, update.byteOffset, update.byteLength);
    const length = Number(
      await APPEND.run(this.#redis, [keys.log, keys.meta, body, this.#limits.maxBytes, this.#limits.ttlMs]),
    );
    if (length < 0) throw new DocTooLarge(doc, this.#limits.maxBytes);
    if (length > COMPACT_AFTER && !this.#merging.has(doc)) {
      this.#merging.add(doc);
      this.#compact(doc)
        .catch((err: unknown) => this.#onError(err instanceof Error ? err : new Error(String(err))))
        .finally(() => this.#merging.delete(doc));
    }
  }

  async state(doc: DocId): Promise<Uint8Array> {
    return mergeAll((await this.#read(doc)).updates);
  }

  async close(): Promise<void> {}

  async #read(doc: DocId): Promise<{ generation: string; updates: Buffer[] }> {
    const keys = docStateKeys(this.#prefix, doc);
    // One MULTI: the generation and the log it belongs to.
    const replies = await this.#redis.multi().hget(keys.meta, 'g').lrangeBuffer(keys.log, 0, -1).exec();
    const [gen, log] = replies ?? [];
    if (!gen || !log || gen[0] || log[0]) throw gen?.[0] ?? log?.[0] ?? new Error('the read of a document was aborted');
    return { generation: (gen[1] as string | null) ?? '0', updates: log[1] as Buffer[] };
  }

  async #compact(doc: DocId): Promise<void> {
    const { generation, updates } = await this.#read(doc);
    if (updates.length <= 1) return;
    const merged = Buffer.from(mergeAll(updates));
    const bytes = updates.reduce((sum, u) => sum + u.length, 0);
    const keys = docStateKeys(this.#prefix, doc);
    await COMPACT.run(this.#redis, [
      keys.log,
      keys.meta,
      generation,
      updates.length,
      merged,
      bytes,
      this.#limits.ttlMs,
    ]);
  }
}
