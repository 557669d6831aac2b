import type { RelayMessage } from '../relay/relay-message.js';

/**
 * One stream's identity (SPEC §11): a concrete `/topic/**` or `/queue/**` destination, or one
 * user's messages for one subscribed user destination. Built only by `HistoryStreams`
 * (streams.ts); opaque to the History implementations, which treat it as any string.
 */
export type StreamId = string;

/**
 * Where a stream stands: the incarnation (`epoch`) and the offset of its newest message (0 before
 * the first one). What MESSAGE `x-epoch` / `x-offset` and the SUBSCRIBE RECEIPT carry.
 */
export interface StreamPosition {
  /**
   * Names one incarnation of the stream: a random id made when the stream is first touched, and
   * made again (a different value) whenever its history is lost — expired, evicted, or gone with
   * its Redis keys. Offsets of two epochs have nothing to do with each other.
   */
  readonly epoch: string;
  /** Decimal on the wire; +1 per appended message, starting at 1 (0: nothing appended yet). */
  readonly offset: number;
}

/** A kept message and the offset it was given at acceptance. */
export interface HistoryEntry {
  readonly offset: number;
  /** As it was appended (same id, headers and bytes); the epoch is the stream's. */
  readonly message: RelayMessage;
}

/**
 * The answer to a resume. All or nothing: either every message after the client's offset, in
 * order, or none at all and the client reloads its state (SPEC §11 `x-recovered`).
 */
export type Recovery =
  /** `messages` are exactly offsets `offset + 1 … position.offset` of the same epoch, oldest first. */
  | { readonly recovered: true; readonly position: StreamPosition; readonly messages: readonly HistoryEntry[] }
  /** The epoch differs, or a message after the offset has left the history; `position` is where the stream stands now. */
  | { readonly recovered: false; readonly position: StreamPosition };

/** The bounds of one stream's history (HISTORY_SIZE, HISTORY_TTL_MS). */
export interface HistoryLimits {
  /** Messages kept per stream; past it the oldest leave. HISTORY_SIZE, default 300. */
  readonly size: number;
  /** How long a message is kept after it was appended. HISTORY_TTL_MS, default 10 minutes. */
  readonly ttlMs: number;
  /**
   * How long a stream's epoch and offset are kept after its last append (or read). Longer than
   * `ttlMs`: a client that resumes a quiet stream whose messages have all expired, but that it had
   * all seen, is still `recovered`. Past it the stream starts over with a new epoch. Default 24 h.
   */
  readonly metaTtlMs: number;
}

/** Default for `HistoryLimits.metaTtlMs`. */
export const HISTORY_META_TTL_MS = 24 * 3600 * 1000;

/**
 * The recent messages of every stream, with the offsets that make resume after reconnect
 * possible (SPEC §11). The seam the cluster fills, like Registry and OfflineStore: two forms,
 * `MemoryHistory` (embedded: one process, lost with it) and `RedisHistory` (cluster: shared by
 * every node, one hash slot per stream, so it works on Redis Cluster too).
 *
 * Guarantees every implementation keeps (test/contract/history.contract.ts):
 *
 * - **One order per stream.** Offsets are assigned by `append`, atomically, in the order the
 *   appends reach the store: concurrent appends from many nodes get distinct, consecutive offsets.
 *   Nothing is assigned twice, nothing is skipped. Appends made through one handle get offsets in
 *   the order they were made (the router appends in acceptance order, so one sender's messages
 *   keep their order).
 * - **Epochs.** A stream is created (with a random epoch, offset 0) by the first call that
 *   touches it, whichever method that is. When its history is lost (TTL, eviction, a bound on
 *   streams in memory, Redis keys gone), the next touch creates it again with a different epoch.
 *   A client that holds an old epoch is never told it is up to date.
 * - **Bounds.** At most `size` messages per stream; a message is gone `ttlMs` after its append. A
 *   message leaves the history only from the old end, so what is kept is always a contiguous run
 *   of offsets ending at the newest.
 * - **Reads are exact.** `since` and `range` return messages of the caller's epoch only, oldest
 *   first, each as appended.
 *
 * Nothing here delivers or filters by subscriber: the router appends at acceptance, the session
 * reads at SUBSCRIBE (resume) and when its offset gate asks for a gap fill.
 */
export interface History {
  /**
   * Gives `message` the stream's next offset and keeps it (dropping the oldest past `size`).
   * Resolves once the store holds it, with the epoch and offset it got: every copy of the message
   * carries them from then on. Rejects when the store is unreachable (the message is then not
   * accepted: the sender gets no RECEIPT / 202).
   */
  append(stream: StreamId, message: RelayMessage): Promise<StreamPosition>;

  /**
   * Where the stream stands now: the RECEIPT of a plain SUBSCRIBE carries it. Creates the stream
   * (new epoch, offset 0) when it does not exist, so the epoch a subscriber is told stays the one
   * the next append uses.
   */
  position(stream: StreamId): Promise<StreamPosition>;

  /**
   * A resume: every message after `offset` of `epoch`, in order, or `recovered: false` when
   * `epoch` is not the stream's, `offset` is ahead of the stream, or any message after `offset`
   * has left the history. Creates the stream when it does not exist (then not recovered). The
   * returned position is read in the same atomic step as the messages.
   */
  since(stream: StreamId, epoch: string, offset: number): Promise<Recovery>;

  /**
   * The kept messages with offsets `from … to` (inclusive) of `epoch`, oldest first, for a gap
   * fill; offsets no longer kept are absent (they will never come back), and an epoch that is not
   * the stream's gives `[]`. Creates nothing.
   */
  range(stream: StreamId, epoch: string, from: number, to: number): Promise<HistoryEntry[]>;

  /** Releases timers; does not delete what the store holds (Redis) — memory goes with the process. */
  close(): Promise<void>;
}

/** Refuses bounds that would keep nothing, or forget an epoch before its messages. */
export function checkHistoryLimits(limits: HistoryLimits): void {
  if (!Number.isSafeInteger(limits.size) || limits.size < 1)
    throw new RangeError(`history size must be an integer ≥ 1, not ${limits.size}`);
  if (!Number.isSafeInteger(limits.ttlMs) || limits.ttlMs < 1)
    throw new RangeError(`history ttlMs must be an integer ≥ 1, not ${limits.ttlMs}`);
  if (!Number.isSafeInteger(limits.metaTtlMs) || limits.metaTtlMs < limits.ttlMs) {
    throw new RangeError(`history metaTtlMs must be an integer ≥ ttlMs (${limits.ttlMs}), not ${limits.metaTtlMs}`);
  }
}
