import type { UserId } from '../ids.js';
import type { OfflineStoreLimits } from './offline-store.js';

/** Why stored messages were dropped: the per-user bound, or the retention time. */
export type OfflineDropReason = 'bound' | 'expired';

/**
 * Told how many of a user's stored messages were dropped and why (OfflineStore: "dropped, and
 * counted"); the node feeds it to a metrics counter. Must not throw.
 */
export type OfflineDropListener = (userId: UserId, count: number, reason: OfflineDropReason) => void;

/** Rejects limits that would make the store silently keep nothing or keep forever. */
export function checkOfflineStoreLimits(limits: OfflineStoreLimits): void {
  if (!Number.isSafeInteger(limits.maxPerUser) || limits.maxPerUser < 1) {
    throw new RangeError(`offline store maxPerUser must be an integer >= 1, got ${limits.maxPerUser}`);
  }
  if (!Number.isSafeInteger(limits.retentionMs) || limits.retentionMs < 1) {
    throw new RangeError(`offline store retentionMs must be an integer >= 1, got ${limits.retentionMs}`);
  }
}
