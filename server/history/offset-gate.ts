import { compareEpochs } from './epoch.js';
import type { StreamPosition } from './history.js';

/** Something with the offset its stream gave it. */
export interface Sequenced<T> {
  readonly offset: number;
  readonly item: T;
}

/** Why a copy was not delivered: its offset was passed already, or it belongs to an older incarnation of the stream. */
export type GateDropReason = 'duplicate' | 'stale-epoch';

/** Offsets to read from history (`History.range`), inclusive. */
export interface GapFill {
  readonly epoch: string;
  readonly from: number;
  readonly to: number;
}

export interface OffsetGateOptions {
  /** How long a copy that arrived ahead of a missing offset waits for it before the gap is filled from history. */
  readonly holdMs: number;
  /** Copies held at most; with more, the gap is filled at once instead of waiting out `holdMs`. */
  readonly maxHeld: number;
  /** Told about each copy not delivered (for the dropped-copies metric). */
  readonly onDropped?: (reason: GateDropReason, offset: number) => void;
  /** Told how many offsets a gap fill gave up on: the history no longer had them. */
  readonly onSkipped?: (count: number) => void;
}

interface Held<T> {
  readonly item: T;
  /** When it arrived (epoch ms, the caller's clock). */
  readonly at: number;
}

interface Waiting<T> extends Held<T> {
  readonly epoch: string;
  readonly offset: number;
}

/**
 * One subscription's view of its stream (SPEC §11): offsets are delivered in order and at most
 * once, whichever path a copy came by (live, re-routed, redelivered batch, offline inbox, replay).
 * Pure logic: no I/O and no timers; the caller owns the clock, the timer and the history read.
 *
 * Life of a gate:
 * 1. Made when the subscription is added; copies `offer`ed before `begin` wait (the history read
 *    is in flight; they are sorted out when it answers).
 * 2. `begin(position, replay)`: the stream's position read at SUBSCRIBE, and what to deliver first
 *    (a resume's messages, or the offline inbox). From here on the gate counts from `position`.
 * 3. `offer` per copy: the next offset is delivered (with any held ones that follow it), a passed
 *    offset or a copy already held is dropped, an offset past a gap is held.
 * 4. When `wakeAt` comes, `gapFill(now)` names the missing offsets; the caller reads them with
 *    `History.range` and hands the answer to `filled`, which delivers in order and gives up on
 *    offsets the history no longer has (they cannot come back: they were appended before the
 *    offsets that are held).
 *
 * Epochs: a copy of a newer epoch means the stream was reset: what is held is delivered (its gaps
 * can no longer be filled) and counting starts again from 0 in the new epoch. A copy of an older
 * epoch is dropped.
 */
export class OffsetGate<T> {
  readonly #options: OffsetGateOptions;
  #epoch: string | undefined;
  #last = 0;
  readonly #held = new Map<number, Held<T>>();
  /** Largest held offset; 0 when nothing is held. */
  #top = 0;
  /** Copies offered before `begin`. Bounded by what arrives during one history read. */
  #waiting: Waiting<T>[] | undefined = [];
  #filling: GapFill | undefined;
  /** A failed fill is tried again no earlier than this (epoch ms). */
  #retryAt: number | undefined;

  constructor(options: OffsetGateOptions) {
    if (!(options.holdMs >= 0) || !(options.maxHeld >= 1))
      throw new RangeError('OffsetGate needs holdMs ≥ 0 and maxHeld ≥ 1');
    this.#options = options;
  }

  /** The epoch and the last offset delivered (or started from); undefined before `begin`. */
  get position(): StreamPosition | undefined {
    return this.#epoch === undefined ? undefined : { epoch: this.#epoch, offset: this.#last };
  }

  /** Copies waiting for `begin` or for a missing offset. */
  get holding(): number {
    return this.#held.size + (this.#waiting?.length ?? 0);
  }

  /**
   * Starts counting from `position`. Returns what to deliver now, in order: `replay` (sorted by
   * offset, each offset once; a resume's messages or offline ones), then the copies that arrived
   * meanwhile and pass. Counting goes on from the larger of `position.offset` and the last replayed.
   */
  begin(position: StreamPosition, replay: readonly Sequenced<T>[]): T[] {
    const waiting = this.#waiting;
    if (waiting === undefined) throw new Error('OffsetGate.begin called twice');
    this.#waiting = undefined;
    this.#epoch = position.epoch;
    const out: T[] = [];
    let last = -1;
    for (const r of [...replay].sort((a, b) => a.offset - b.offset)) {
      if (r.offset === last) continue;
      out.push(r.item);
      last = r.offset;
    }
    this.#last = Math.max(position.offset, last);
    for (const w of waiting) this.#accept(w.epoch, w.offset, w.item, w.at, out);
    return out;
  }

  /** A copy of offset `offset` of `epoch` reached the subscription: what to deliver now, in order (often just it, or nothing). */
  offer(epoch: string, offset: number, item: T, now: number): T[] {
    if (this.#waiting !== undefined) {
      this.#waiting.push({ epoch, offset, item, at: now });
      return [];
    }
    const out: T[] = [];
    this.#accept(epoch, offset, item, now, out);
    return out;
  }

  /**
   * When `gapFill` should be called (epoch ms; at or before now means at once), or undefined when
   * nothing is held or a fill is in flight.
   */
  get wakeAt(): number | undefined {
    if (this.#held.size === 0 || this.#filling !== undefined) return undefined;
    let first = Infinity;
    for (const h of this.#held.values()) first = Math.min(first, h.at);
    const due = this.#held.size >= this.#options.maxHeld ? first : first + this.#options.holdMs;
    return this.#retryAt === undefined ? due : Math.max(due, this.#retryAt);
  }

  /** The missing offsets to read from history, once `wakeAt` has come; undefined otherwise. One fill at a time. */
  gapFill(now: number): GapFill | undefined {
    const wake = this.wakeAt;
    if (wake === undefined || now < wake || this.#epoch === undefined) return undefined;
    this.#filling = { epoch: this.#epoch, from: this.#last + 1, to: this.#top - 1 };
    return this.#filling;
  }

  /**
   * The history's answer to `fill` (`[]` when the read failed). Every offset up to `fill.to` is
   * settled: delivered from the held copies or the answer, in order, or given up. Returns what to
   * deliver now. An answer to a fill the gate no longer waits for (the epoch changed) is ignored.
   */
  filled(fill: GapFill, entries: readonly Sequenced<T>[]): T[] {
    if (fill !== this.#filling) return [];
    this.#filling = undefined;
    this.#retryAt = undefined;
    if (fill.epoch !== this.#epoch) return [];
    for (const e of entries) {
      if (e.offset > this.#last && e.offset <= fill.to && !this.#held.has(e.offset))
        this.#held.set(e.offset, { item: e.item, at: 0 });
    }
    const out: T[] = [];
    this.#flushThrough(fill.to, out);
    this.#release(out);
    return out;
  }

  /**
   * The read for `fill` failed (Redis unreachable, failing over): nothing is given up; what is
   * held stays held and the gap is asked for again from `retryAt` on. The caller bounds how long.
   */
  unfilled(fill: GapFill, retryAt: number): void {
    if (fill !== this.#filling) return;
    this.#filling = undefined;
    this.#retryAt = retryAt;
  }

  #accept(epoch: string, offset: number, item: T, now: number, out: T[]): void {
    const current = this.#epoch as string;
    if (epoch !== current) {
      if (compareEpochs(epoch, current) < 0) {
        this.#options.onDropped?.('stale-epoch', offset);
        return;
      }
      // The stream was reset: nothing of the old epoch can be filled any more.
      this.#flushThrough(this.#top, out);
      this.#epoch = epoch;
      this.#last = 0;
      this.#filling = undefined;
      this.#retryAt = undefined;
    }
    if (offset <= this.#last || this.#held.has(offset)) {
      this.#options.onDropped?.('duplicate', offset);
      return;
    }
    if (offset === this.#last + 1) {
      out.push(item);
      this.#last = offset;
      this.#release(out);
      return;
    }
    this.#held.set(offset, { item, at: now });
    if (offset > this.#top) this.#top = offset;
  }

  /** Delivers the held copies that follow the last offset without a gap. */
  #release(out: T[]): void {
    let next = this.#held.get(this.#last + 1);
    while (next !== undefined) {
      this.#held.delete(++this.#last);
      out.push(next.item);
      next = this.#held.get(this.#last + 1);
    }
    if (this.#held.size === 0) this.#top = 0;
  }

  /** Settles every offset up to `to`: held copies are delivered in order, missing ones given up. */
  #flushThrough(to: number, out: T[]): void {
    if (to <= this.#last) return;
    const due = [...this.#held.keys()].filter((o) => o <= to).sort((a, b) => a - b);
    for (const offset of due) {
      out.push((this.#held.get(offset) as Held<T>).item);
      this.#held.delete(offset);
    }
    const skipped = to - this.#last - due.length;
    if (skipped > 0) this.#options.onSkipped?.(skipped);
    this.#last = to;
    if (this.#held.size === 0) this.#top = 0;
  }
}
