import type { RelayMessage } from '../relay/relay-message.js';
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

/** Streams kept by default; past it the least recently used one is forgotten (its epoch with it). */
export const MEMORY_HISTORY_MAX_STREAMS = 10_000;

export interface MemoryHistoryOptions {
  /** `size` and `ttlMs` (HISTORY_SIZE, HISTORY_TTL_MS); `metaTtlMs` defaults to 24 h. */
  readonly limits: Omit<HistoryLimits, 'metaTtlMs'> & Partial<Pick<HistoryLimits, 'metaTtlMs'>>;
  /** Streams kept at once; the least recently touched goes first. @default MEMORY_HISTORY_MAX_STREAMS */
  readonly maxStreams?: number;
  /** Clock in epoch ms. @default Date.now */
  readonly now?: () => number;
}

interface Kept {
  readonly offset: number;
  /** Epoch ms of the append. */
  readonly at: number;
  readonly message: RelayMessage;
}

interface Stream {
  readonly epoch: string;
  top: number;
  /** Kept messages are `entries[head…]`, offsets `top - (length - head) + 1 … top`. */
  entries: Kept[];
  head: number;
  touchedAt: number;
  /** Offsets of the kept messages by message id: a re-sent id gets its first offset. */
  readonly ids: Map<string, number>;
}

/**
 * The embedded history: per stream, an array of the last `size` messages in process memory,
 * lost with the process (a restarted node has new epochs, so every resume is then
 * `recovered: false`, as it must be).
 *
 * Streams live in one Map in least-recently-touched order: past `maxStreams` the first one is
 * forgotten, and one untouched for `metaTtlMs` is forgotten when next seen or swept. A sweep
 * every min(ttlMs, 60 s) frees the messages of streams untouched for `ttlMs` (all expired).
 */
export class MemoryHistory implements History {
  readonly #limits: HistoryLimits;
  readonly #maxStreams: number;
  readonly #now: () => number;
  readonly #streams = new Map<StreamId, Stream>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: MemoryHistoryOptions) {
    const { size, ttlMs } = options.limits;
    const limits: HistoryLimits = {
      size,
      ttlMs,
      metaTtlMs: options.limits.metaTtlMs ?? Math.max(HISTORY_META_TTL_MS, ttlMs),
    };
    checkHistoryLimits(limits);
    const maxStreams = options.maxStreams ?? MEMORY_HISTORY_MAX_STREAMS;
    if (!Number.isSafeInteger(maxStreams) || maxStreams < 1)
      throw new RangeError(`maxStreams must be an integer ≥ 1, not ${maxStreams}`);
    this.#limits = limits;
    this.#maxStreams = maxStreams;
    this.#now = options.now ?? Date.now;
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(limits.ttlMs, 60_000));
    this.#sweeper.unref();
  }

  async append(stream: StreamId, message: RelayMessage): Promise<StreamPosition> {
    const now = this.#now();
    const s = this.#touch(stream, now);
    const seen = s.ids.get(message.id);
    if (seen !== undefined) return { epoch: s.epoch, offset: seen };
    s.top++;
    // A decoded body may be a view into a whole socket chunk: keep only its own bytes.
    s.entries.push({ offset: s.top, at: now, message: { ...message, body: Buffer.from(message.body) } });
    s.ids.set(message.id, s.top);
    if (s.entries.length - s.head > this.#limits.size) s.ids.delete((s.entries[s.head++] as Kept).message.id);
    // Compact now and then, so trimming stays O(1) per append.
    if (s.head >= this.#limits.size) {
      s.entries = s.entries.slice(s.head);
      s.head = 0;
    }
    return { epoch: s.epoch, offset: s.top };
  }

  async position(stream: StreamId): Promise<StreamPosition> {
    const s = this.#touch(stream, this.#now());
    return { epoch: s.epoch, offset: s.top };
  }

  async since(stream: StreamId, epoch: string, offset: number): Promise<Recovery> {
    const now = this.#now();
    const s = this.#touch(stream, now);
    const position = { epoch: s.epoch, offset: s.top };
    if (epoch !== s.epoch || !Number.isSafeInteger(offset) || offset < 0 || offset > s.top)
      return { recovered: false, position };
    const kept = this.#kept(s, offset + 1, s.top, now - this.#limits.ttlMs);
    // All or nothing: the first message after `offset` must still be there (the rest follow it).
    if (kept.length !== s.top - offset) return { recovered: false, position };
    return { recovered: true, position, messages: kept };
  }

  async range(stream: StreamId, epoch: string, from: number, to: number): Promise<HistoryEntry[]> {
    const now = this.#now();
    const s = this.#streams.get(stream);
    if (!s || s.epoch !== epoch || this.#forgotten(s, now)) return [];
    return this.#kept(s, from, to, now - this.#limits.ttlMs);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  /** The stream, created (new epoch) when absent or forgotten, moved to the most recent end. */
  #touch(stream: StreamId, now: number): Stream {
    let s = this.#streams.get(stream);
    if (s && !this.#forgotten(s, now)) {
      this.#streams.delete(stream);
    } else {
      if (s) this.#streams.delete(stream);
      s = { epoch: newEpoch(now), top: 0, entries: [], head: 0, touchedAt: now, ids: new Map() };
      while (this.#streams.size >= this.#maxStreams) {
        const oldest = this.#streams.keys().next();
        if (oldest.done) break;
        this.#streams.delete(oldest.value);
      }
    }
    s.touchedAt = now;
    this.#streams.set(stream, s);
    return s;
  }

  #forgotten(s: Stream, now: number): boolean {
    return now - s.touchedAt >= this.#limits.metaTtlMs;
  }

  /** Kept entries with offsets `from … to` appended after `cutoff`, oldest first. */
  #kept(s: Stream, from: number, to: number, cutoff: number): HistoryEntry[] {
    const count = s.entries.length - s.head;
    const first = s.top - count + 1;
    const out: HistoryEntry[] = [];
    for (let offset = Math.max(from, first); offset <= Math.min(to, s.top); offset++) {
      const e = s.entries[s.head + offset - first];
      if (e && e.at > cutoff) out.push({ offset: e.offset, message: e.message });
    }
    return out;
  }

  /** Frees what can no longer be read: streams past `metaTtlMs`, and the messages of streams untouched for `ttlMs`. */
  #sweep(): void {
    const now = this.#now();
    // Least recently touched first: stop at the first stream touched within ttlMs.
    for (const [id, s] of this.#streams) {
      if (now - s.touchedAt < this.#limits.ttlMs) break;
      if (this.#forgotten(s, now)) this.#streams.delete(id);
      else if (s.entries.length > 0) {
        s.head = 0;
        s.entries = [];
        s.ids.clear();
      }
    }
  }
}
