import type { DocId, SessionId, UserId } from '../ids.js';
import { addMember, memberCount, removeMember, type Members } from '../members.js';

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
  readonly #docs = new Map<DocId, Map<UserId, Members<SessionId>>>();

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
    let users = this.#docs.get(docId);
    if (!users) {
      users = new Map();
      this.#docs.set(docId, users);
    }
    return addMember(users, userId, sessionId);
  }

  /** True when the session was present in the document (and now is not). */
  leaveDoc(docId: DocId, userId: UserId, sessionId: SessionId): boolean {
    const users = this.#docs.get(docId);
    if (!users) return false;
    const removed = removeMember(users, userId, sessionId);
    if (users.size === 0) this.#docs.delete(docId);
    return removed;
  }

  /** Sessions of the user (present in `docId` when given); 0 when none. */
  sessions(userId: UserId, docId?: DocId): number {
    const sessions = docId === undefined ? this.#users.get(userId) : this.#docs.get(docId)?.get(userId);
    return memberCount(sessions);
  }

  /** [user, sessions] for every user present in the document, sorted by user id. */
  docUsers(docId: DocId): Array<[UserId, number]> {
    const users = this.#docs.get(docId);
    if (!users) return [];
    return [...users].map(([userId, sessions]): [UserId, number] => [userId, memberCount(sessions)]).sort(byFirst);
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
      for (const [userId, s] of byUser) docs.push([docId, userId, memberCount(s)]);
    }
    return { users, docs };
  }
}

function byFirst(a: [string, number], b: [string, number]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
