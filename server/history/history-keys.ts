import { encodeKeyPart } from '../redis/redis-keys.js';
import type { StreamId } from './history.js';

/**
 * The Redis keys of the history, built from `KEY_PREFIX` (to be folded into redis-keys.ts).
 * The keys of a stream carry the encoded stream id as their hash tag, so one script can touch
 * both on Redis Cluster (one slot per stream, streams spread over the slots):
 *
 * | key                              | type | holds                                                    |
 * |----------------------------------|------|----------------------------------------------------------|
 * | `{p}history:{<stream>}:meta`     | hash | `e` epoch, `o` offset of the newest message; PX metaTtlMs |
 * | `{p}history:{<stream>}:log`      | list | `"<appendedAtMs> <relay message JSON>"`, oldest first, offsets `o - LLEN + 1 … o`; PX ttlMs |
 * | `{p}history:{<stream>}:ids`      | zset | message id → its offset, for the kept offsets: a re-sent id gets its first offset; PX ttlMs |
 *
 * `<stream>` is `encodeKeyPart(streamId)`: it never contains `{`, `}`, `:` or a glob character.
 */
export interface HistoryKeys {
  readonly prefix: string;
  /** The stream's epoch and newest offset. */
  readonly meta: (stream: StreamId) => string;
  /** The stream's kept messages. */
  readonly log: (stream: StreamId) => string;
  /** The kept messages' ids, scored by offset. */
  readonly ids: (stream: StreamId) => string;
  /** SCAN MATCH pattern for every history key under the prefix (tests, tooling). */
  readonly pattern: () => string;
}

export function historyKeys(prefix: string): HistoryKeys {
  // A brace in the prefix would become the hash tag of every key: all streams in one slot.
  if (/[*?[\]\\{}]/.test(prefix))
    throw new RangeError(`KEY_PREFIX must not contain * ? [ ] { } or \\: ${JSON.stringify(prefix)}`);
  const tagged = (stream: StreamId) => `${prefix}history:{${encodeKeyPart(stream)}}`;
  return {
    prefix,
    meta: (stream) => `${tagged(stream)}:meta`,
    log: (stream) => `${tagged(stream)}:log`,
    ids: (stream) => `${tagged(stream)}:ids`,
    pattern: () => `${prefix}history:*`,
  };
}
