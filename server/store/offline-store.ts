import type { RelayMessage } from '../relay/relay-message.js';
import type { Destination, UserId } from '../ids.js';

/**
 * The offline inbox: user messages for a user with no session subscribed to their destination,
 * kept until the user next subscribes to it (the seed's "store for offline users, deliver at
 * login"). Two forms: MemoryOfflineStore and RedisOfflineStore.
 *
 * `subscription` is the destination in the form the user subscribes with: `/user/42/queue/chat`
 * for user messages, `/queue/jobs` for a queue message redelivered after a session ended unacked.
 */
export interface OfflineStore {
  /**
   * Keeps `msg` for `userId`. Bounded per user: past the bound the oldest message is dropped (and
   * counted). Messages older than the retention time are dropped. Resolves once stored.
   */
  append(userId: UserId, subscription: Destination, msg: RelayMessage): Promise<void>;

  /** Removes and returns the user's messages for `subscription`, oldest first. */
  take(userId: UserId, subscription: Destination): Promise<RelayMessage[]>;

  /** How many messages are kept for the user, all destinations (for tests and the API). */
  count(userId: UserId): Promise<number>;

  close(): Promise<void>;
}

export interface OfflineStoreLimits {
  /** Messages kept per user. */
  readonly maxPerUser: number;
  /** How long a message is kept. */
  readonly retentionMs: number;
}
