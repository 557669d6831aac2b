import type { RelayMessage } from '../relay/relay-message.js';
import type { Destination, UserId } from '../ids.js';
import { checkOfflineStoreLimits, type OfflineDropListener } from './offline-drop.js';
import type { OfflineStore, OfflineStoreLimits } from './offline-store.js';

interface Entry {
  readonly subscription: Destination;
  /** Epoch ms when it was appended (from `now`). */
  readonly at: number;
  readonly msg: RelayMessage;
}

/**
 * The embedded offline inbox: one array per user in process memory, lost with the process.
 *
 * Bounded per user (`maxPerUser`, oldest dropped first) and by age (`retentionMs`, measured with
 * `now`, which tests replace with a fake clock). Expired messages are dropped lazily, whenever
 * the user's inbox is touched.
 */
export class MemoryOfflineStore implements OfflineStore {
  readonly #limits: OfflineStoreLimits;
  readonly #now: () => number;
  readonly #onDropped: OfflineDropListener | undefined;
  readonly #inboxes = new Map<UserId, Entry[]>();

  /**
   * @param limits    bound per user and retention; `maxPerUser` ≥ 1, `retentionMs` > 0 (RangeError else)
   * @param now       clock in epoch ms
   * @param onDropped told about every message dropped by the bound or by retention (for metrics)
   */
  constructor(limits: OfflineStoreLimits, now: () => number = Date.now, onDropped?: OfflineDropListener) {
    checkOfflineStoreLimits(limits);
    this.#limits = limits;
    this.#now = now;
    this.#onDropped = onDropped;
  }

  /** Keeps `msg`; past `maxPerUser` the user's oldest messages are dropped. Resolves once stored. */
  async append(userId: UserId, subscription: Destination, msg: RelayMessage): Promise<void> {
    const inbox = this.#live(userId) ?? [];
    inbox.push({ subscription, at: this.#now(), msg });
    const over = inbox.length - this.#limits.maxPerUser;
    if (over > 0) {
      inbox.splice(0, over);
      this.#onDropped?.(userId, over, 'bound');
    }
    this.#inboxes.set(userId, inbox);
  }

  /** Removes and returns the unexpired messages for `subscription`, oldest first; each is returned once. */
  async take(userId: UserId, subscription: Destination): Promise<RelayMessage[]> {
    const inbox = this.#live(userId);
    if (!inbox) return [];
    const taken: RelayMessage[] = [];
    const rest: Entry[] = [];
    for (const entry of inbox) {
      if (entry.subscription === subscription) taken.push(entry.msg);
      else rest.push(entry);
    }
    if (rest.length > 0) this.#inboxes.set(userId, rest);
    else this.#inboxes.delete(userId);
    return taken;
  }

  /** Unexpired messages kept for the user, all subscriptions. */
  async count(userId: UserId): Promise<number> {
    return this.#live(userId)?.length ?? 0;
  }

  /** Nothing to release; the inboxes go with the process. */
  async close(): Promise<void> {}

  /** The user's inbox with expired entries removed, or undefined when nothing is left. */
  #live(userId: UserId): Entry[] | undefined {
    const inbox = this.#inboxes.get(userId);
    if (!inbox) return undefined;
    const cutoff = this.#now() - this.#limits.retentionMs;
    // Entries are in append order, so with a monotonic clock the expired ones form a prefix;
    // filter anyway so a clock step backwards cannot keep an old entry alive.
    const live = inbox.filter((e) => e.at > cutoff);
    const expired = inbox.length - live.length;
    if (expired > 0) this.#onDropped?.(userId, expired, 'expired');
    if (live.length === 0) {
      this.#inboxes.delete(userId);
      return undefined;
    }
    if (expired > 0) this.#inboxes.set(userId, live);
    return live;
  }
}
