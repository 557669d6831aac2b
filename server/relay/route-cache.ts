import type { DocId, NodeId, UserId } from '../ids.js';

interface Entry {
  readonly nodes: readonly NodeId[];
  readonly at: number;
}

/**
 * Registry lookups kept for a short time, so a steady stream to one user costs no Redis round
 * trip per message (issue 7). A stale entry costs at most one extra hop: the node it names
 * re-routes a message for a user it no longer holds. Entries are dropped when this node sees the
 * user's presence change, and kept past their time while Redis is down ("what is known", SPEC §8).
 * Empty answers are never cached: a user who just connected must not be missed.
 */
export class RouteCache {
  private readonly byUser = new Map<UserId, Map<string, Entry>>(); // '' for a user's own routes
  private size = 0;

  constructor(
    readonly ttlMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** The entry and whether it is still fresh. */
  get(user: UserId, doc: DocId | undefined, now: number): { nodes: readonly NodeId[]; fresh: boolean } | undefined {
    const entry = this.entry(user, doc);
    return entry && { nodes: entry.nodes, fresh: now - entry.at < this.ttlMs };
  }

  /** The nodes, when the entry is still fresh (the hot path: no allocation). */
  fresh(user: UserId, doc: DocId | undefined, now: number): readonly NodeId[] | undefined {
    const entry = this.entry(user, doc);
    return entry !== undefined && now - entry.at < this.ttlMs ? entry.nodes : undefined;
  }

  private entry(user: UserId, doc: DocId | undefined): Entry | undefined {
    return this.byUser.get(user)?.get(doc ?? '');
  }

  set(user: UserId, doc: DocId | undefined, nodes: readonly NodeId[], now: number): void {
    if (this.ttlMs <= 0 || nodes.length === 0) return;
    if (this.size >= this.maxEntries) this.clear(); // bounded memory; refilled on demand
    let docs = this.byUser.get(user);
    if (!docs) this.byUser.set(user, (docs = new Map<string, Entry>()));
    if (!docs.has(doc ?? '')) this.size++;
    docs.set(doc ?? '', { nodes, at: now });
  }

  forget(user: UserId): void {
    const docs = this.byUser.get(user);
    if (!docs) return;
    this.size -= docs.size;
    this.byUser.delete(user);
  }

  clear(): void {
    this.byUser.clear();
    this.size = 0;
  }
}
