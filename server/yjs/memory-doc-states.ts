import type { DocId } from '../ids.js';
import { COMPACT_AFTER, DocTooLarge, mergeAll, type DocStateLimits, type DocStates } from './doc-states.js';

interface Kept {
  updates: Uint8Array[];
  bytes: number;
  touchedAt: number;
}

/** Embedded mode's document states: one merged log per document, forgotten after `ttlMs` without writes. */
export class MemoryDocStates implements DocStates {
  readonly #docs = new Map<DocId, Kept>();
  readonly #limits: DocStateLimits;
  readonly #now: () => number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(limits: DocStateLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(limits.ttlMs, 60_000));
    this.#sweeper.unref();
  }

  async apply(doc: DocId, update: Uint8Array): Promise<void> {
    const kept = this.#live(doc) ?? { updates: [], bytes: 0, touchedAt: 0 };
    if (kept.bytes + update.byteLength > this.#limits.maxBytes) throw new DocTooLarge(doc, this.#limits.maxBytes);
    // A copy: the body may be a view into a socket's buffer.
    kept.updates.push(Uint8Array.prototype.slice.call(update));
    kept.bytes += update.byteLength;
    kept.touchedAt = this.#now();
    if (kept.updates.length > COMPACT_AFTER) {
      const merged = mergeAll(kept.updates);
      kept.updates = [merged];
      kept.bytes = merged.byteLength;
    }
    this.#docs.set(doc, kept);
  }

  async state(doc: DocId): Promise<Uint8Array> {
    return mergeAll(this.#live(doc)?.updates ?? []);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#docs.clear();
  }

  #live(doc: DocId): Kept | undefined {
    const kept = this.#docs.get(doc);
    if (kept && this.#now() - kept.touchedAt >= this.#limits.ttlMs) {
      this.#docs.delete(doc);
      return undefined;
    }
    return kept;
  }

  #sweep(): void {
    for (const doc of this.#docs.keys()) this.#live(doc);
  }
}
