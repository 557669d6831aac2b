import type { DocId, SessionId, UserId } from '../ids.js';
import {
  addMember,
  hasMember,
  memberCount,
  removeMember,
  withMember,
  withoutMember,
  type Members,
} from '../members.js';

/** One node's registrations as counts, the form Redis keeps (RedisRegistry.resync writes it). */
export interface SessionSnapshot {
  /** [user, sessions on this node] */
  readonly users: ReadonlyArray<readonly [UserId, number]>;
  /** [doc, user, sessions of the user present in the doc on this node] */
  readonly docs: ReadonlyArray<readonly [DocId, UserId, number]>;
}

/**
 * The sessions one node registered, by session id: the whole of MemoryRegistry, and the local
 * mirror RedisRegistry rewrites to Redis after an outage. Session ids make every update
 * idempotent: adding a known session or removing an unknown one changes nothing and says so,
 * which is how counts never go negative.
 */
export class SessionIndex {
  readonly #users = new Map<UserId, Members<SessionId>>();
  readonly #docs = new Map<DocId, DocUsers>();

  /** True when the session was not known yet. */
  addSession(userId: UserId, sessionId: SessionId): boolean {
    return addMember(this.#users, userId, sessionId);
  }

  /** True when the session was known (and is now forgotten). */
  removeSession(userId: UserId, sessionId: SessionId): boolean {
    return removeMember(this.#users, userId, sessionId);
  }

  /** True when the session was not present in the document yet. */
  joinDoc(docId: DocId, userId: UserId, sessionId: SessionId): boolean {
    const users = this.#docs.get(docId);
    if (users === undefined) {
      this.#docs.set(docId, { user: userId, sessions: sessionId });
      return true;
    }
    if (users instanceof Map) return addMember(users, userId, sessionId);
    if (users.user !== userId) {
      this.#docs.set(
        docId,
        new Map([
          [users.user, users.sessions],
          [userId, sessionId],
        ]),
      );
      return true;
    }
    if (hasMember(users.sessions, sessionId)) return false;
    users.sessions = withMember(users.sessions, sessionId);
    return true;
  }

  /** True when the session was present in the document (and now is not). */
  leaveDoc(docId: DocId, userId: UserId, sessionId: SessionId): boolean {
    const users = this.#docs.get(docId);
    if (users === undefined) return false;
    if (users instanceof Map) {
      const removed = removeMember(users, userId, sessionId);
      if (users.size === 0) this.#docs.delete(docId);
      return removed;
    }
    if (users.user !== userId) return false;
    if (!hasMember(users.sessions, sessionId)) return false;
    const left = withoutMember(users.sessions, sessionId);
    if (left === undefined) this.#docs.delete(docId);
    else users.sessions = left;
    return true;
  }

  /** Sessions of the user (present in `docId` when given); 0 when none. */
  sessions(userId: UserId, docId?: DocId): number {
    const sessions = docId === undefined ? this.#users.get(userId) : sessionsIn(this.#docs.get(docId), userId);
    return memberCount(sessions);
  }

  /** [user, sessions] for every user present in the document, sorted by user id. */
  docUsers(docId: DocId): Array<[UserId, number]> {
    return [...usersOf(this.#docs.get(docId))]
      .map(([userId, sessions]): [UserId, number] => [userId, memberCount(sessions)])
      .sort(byFirst);
  }

  /** True when nothing is registered. */
  isEmpty(): boolean {
    return this.#users.size === 0 && this.#docs.size === 0;
  }

  clear(): void {
    this.#users.clear();
    this.#docs.clear();
  }

  /** Counts as they are now; later updates do not change the returned arrays. */
  snapshot(): SessionSnapshot {
    const users = [...this.#users].map(([userId, s]) => [userId, memberCount(s)] as const);
    const docs: Array<readonly [DocId, UserId, number]> = [];
    for (const [docId, byUser] of this.#docs) {
      for (const [userId, s] of usersOf(byUser)) docs.push([docId, userId, memberCount(s)]);
    }
    return { users, docs };
  }
}

/**
 * A document's users on this node and their sessions: one user held as a pair, a `Map` only for a
 * second (a node often holds one user of a document, and an empty `Map` costs ~170 bytes).
 */
type DocUsers = { readonly user: UserId; sessions: Members<SessionId> } | Map<UserId, Members<SessionId>>;

function sessionsIn(users: DocUsers | undefined, userId: UserId): Members<SessionId> | undefined {
  if (users === undefined) return undefined;
  if (users instanceof Map) return users.get(userId);
  return users.user === userId ? users.sessions : undefined;
}

function usersOf(users: DocUsers | undefined): Iterable<readonly [UserId, Members<SessionId>]> {
  if (users === undefined) return [];
  return users instanceof Map ? users : [[users.user, users.sessions]];
}

function byFirst(a: [string, number], b: [string, number]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
