import type { DocId, NodeId, SessionId, UserId } from '../ids.js';
import type { PresenceEntry, Registry } from './registry.js';
import { SessionIndex } from './session-index.js';

/**
 * The embedded registry: one node, everything in process memory (SPEC §2, embedded default).
 *
 * It tracks session ids, not bare counts, so a repeated `addSession`/`joinDoc` for the same
 * session, or an undo of a session it never saw, changes nothing: counts cannot go negative.
 * It knows only its own node, so `locate` answers `[nodeId]` or `[]`.
 */
export class MemoryRegistry implements Registry {
  readonly nodeId: NodeId;
  readonly #index = new SessionIndex();
  #closed = false;

  constructor(nodeId: NodeId) {
    this.nodeId = nodeId;
  }

  /** Records the session; a second call for the same session is a no-op. */
  async addSession(userId: UserId, sessionId: SessionId): Promise<void> {
    this.#index.addSession(userId, sessionId);
  }

  /** Forgets the session; the user is gone from this node at its last session. */
  async removeSession(userId: UserId, sessionId: SessionId): Promise<void> {
    this.#index.removeSession(userId, sessionId);
  }

  /** Records the session's presence in the document; idempotent per (doc, session). */
  async joinDoc(docId: DocId, userId: UserId, sessionId: SessionId): Promise<void> {
    this.#index.joinDoc(docId, userId, sessionId);
  }

  /** Undoes `joinDoc`; the document disappears with its last present user. */
  async leaveDoc(docId: DocId, userId: UserId, sessionId: SessionId): Promise<void> {
    this.#index.leaveDoc(docId, userId, sessionId);
  }

  /** `[nodeId]` when the user has a session here (present in `docId` when given), else `[]`. */
  async locate(userId: UserId, docId?: DocId): Promise<NodeId[]> {
    return this.#index.sessions(userId, docId) > 0 ? [this.nodeId] : [];
  }

  /** The document's users sorted by user id; every entry is on this node. */
  async presence(docId: DocId): Promise<PresenceEntry[]> {
    return this.#index.docUsers(docId).map(([userId, sessions]) => ({
      userId,
      node: this.nodeId,
      sessions,
      nodes: { [this.nodeId]: sessions },
    }));
  }

  /** One node, and it is this one: nobody else's entries to sweep. */
  async sweep(): Promise<NodeId[]> {
    return [];
  }

  /** Nothing to refresh: a process that can answer is alive. */
  async keepAlive(): Promise<void> {}

  /** Forgets every entry when `nodeId` is this node (graceful drain); other ids hold nothing here. */
  async removeNode(nodeId: NodeId): Promise<void> {
    if (nodeId === this.nodeId) this.#index.clear();
  }

  /** Always `[nodeId]`: the only node there is. */
  /** No sweep here returns a node, so there is no claim to hold. */
  async holdClaim(): Promise<void> {}

  async queueClaimedBy(): Promise<NodeId | undefined> {
    return undefined;
  }

  async liveNodes(): Promise<NodeId[]> {
    return [this.nodeId];
  }

  /** True until `close()`. */
  isReady(): boolean {
    return !this.#closed;
  }

  /** Marks the registry not ready; entries stay readable (drain removes them with `removeNode`). */
  async close(): Promise<void> {
    this.#closed = true;
  }
}
