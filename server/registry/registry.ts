import type { DocId, NodeId, SessionId, UserId } from '../ids.js';

/** One user's presence in a document, as `GET /api/docs/{docId}/presence` shows it. */
export interface PresenceEntry {
  readonly userId: UserId;
  /** The node that most recently took a session of the user in this document. */
  readonly node: NodeId;
  /** Sessions of the user in this document on `node`. */
  readonly sessions: number;
  /** Sessions per node, for users present through several nodes. */
  readonly nodes: Readonly<Record<NodeId, number>>;
}

/**
 * Which node holds which user: the seam the cluster fills. Two forms: MemoryRegistry (one node,
 * the embedded default) and RedisRegistry (SPEC §5: the hash `{KEY_PREFIX}co:{docId}`, a key per
 * user listing its nodes, a liveness key per node with a TTL).
 *
 * An instance speaks for one node (its own `nodeId`). Calls are per session: the caller calls
 * `addSession` once per session and `joinDoc` once per (session, document), and undoes each
 * exactly once. Implementations keep counts, so concurrent sessions of one user on several
 * nodes never corrupt each other (Redis: one Lua script per update).
 */
export interface Registry {
  readonly nodeId: NodeId;

  /** Records that this node holds a session of `userId`. */
  addSession(userId: UserId, sessionId: SessionId): Promise<void>;
  /** Undoes `addSession`; the user's entry for this node goes at its last session. */
  removeSession(userId: UserId, sessionId: SessionId): Promise<void>;

  /** Records the session's presence in a document (first subscription to one of its destinations). */
  joinDoc(docId: DocId, userId: UserId, sessionId: SessionId): Promise<void>;
  /** Undoes `joinDoc` (last such unsubscription, or disconnect). */
  leaveDoc(docId: DocId, userId: UserId, sessionId: SessionId): Promise<void>;

  /**
   * The live nodes holding sessions of `userId`; with `docId`, the live nodes where the user is
   * present in that document. Entries of nodes whose liveness key is gone are left out. Empty
   * when the user is nowhere.
   */
  locate(userId: UserId, docId?: DocId): Promise<NodeId[]>;

  /** The users present in a document, live nodes only. */
  presence(docId: DocId): Promise<PresenceEntry[]>;

  /** Refreshes this node's liveness; called periodically while the node lives. */
  keepAlive(): Promise<void>;

  /** Removes every entry of `nodeId` (graceful drain of this node, or sweep of a dead one). */
  removeNode(nodeId: NodeId): Promise<void>;

  /**
   * Removes every entry of known nodes whose liveness has lapsed and resolves with those nodes, so
   * the caller can take over what they left (their queues). Safe to run on several nodes at once:
   * each dead node is returned to one of them. Never the caller's own node: its liveness can lapse
   * while it is alive (Redis failing over), and it re-registers at its next keepAlive. Each node
   * returned comes with a claim on its queue for the caller (see `holdClaim`).
   */
  sweep(): Promise<NodeId[]>;

  /**
   * Renews (`keep`) or ends this node's claim on the queue of a node its sweep returned, while it
   * takes that queue over. A swept node that comes back waits for the claim to end before it
   * declares its queue again (`queueClaimedBy`), so a takeover never deletes a live node's queue.
   */
  holdClaim(nodeId: NodeId, keep: boolean): Promise<void>;

  /** The node taking over this node's queue (a sweep took this node for dead), or undefined. */
  queueClaimedBy(): Promise<NodeId | undefined>;

  /** Nodes whose liveness key is still there. */
  liveNodes(): Promise<NodeId[]>;

  /** True while the registry's store is usable (for `/readyz`). */
  isReady(): boolean;

  close(): Promise<void>;
}
