import type { DocId, SessionId, UserId } from '../ids.js';
import {
  addMember,
  hasMember,
  memberCount,
  removeMember,
  withMember,
  withoutMember,
  SMALL_MEMBERS,
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
    if (users instanceof Map) return addMember(users, userId, sessionId);
    const entry = entryOf(users, userId);
    if (entry === undefined) {
      this.#docs.set(docId, withUser(users, { user: userId, sessions: sessionId }));
      return true;
    }
    if (hasMember(entry.sessions, sessionId)) return false;
    entry.sessions = withMember(entry.sessions, sessionId);
    return true;
  }

  /** True when the session was present in the document (and now is not). */
  leaveDoc(docId: DocId, userId: UserId, sessionId: SessionId): boolean {
    const users = this.#docs.get(docId);
    if (users instanceof Map) {
      const removed = removeMember(users, userId, sessionId);
      if (users.size === 0) this.#docs.delete(docId);
      return removed;
    }
    const entry = entryOf(users, userId);
    if (entry === undefined || !hasMember(entry.sessions, sessionId)) return false;
    const left = withoutMember(entry.sessions, sessionId);
    if (left !== undefined) {
      entry.sessions = left;
      return true;
    }
    const rest = users !== undefined && isList(users) ? users.filter((e) => e !== entry) : [];
    if (rest.length === 0) this.#docs.delete(docId);
    else this.#docs.set(docId, rest.length === 1 ? (rest[0] as DocUser) : rest);
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

/** One user of a document on this node, and their sessions there. */
type DocUser = { readonly user: UserId; sessions: Members<SessionId> };

/**
 * A document's users on this node and their sessions: one user held as a pair, a few in an array
 * of pairs, a `Map` only past SMALL_MEMBERS (a node often holds one or two users of a document,
 * and an empty `Map` costs ~170 bytes).
 */
type DocUsers = DocUser | readonly DocUser[] | Map<UserId, Members<SessionId>>;

/** The pair of `userId` in a document held without a `Map`. */
function entryOf(users: DocUser | readonly DocUser[] | undefined, userId: UserId): DocUser | undefined {
  if (users === undefined) return undefined;
  if (isList(users)) return users.find((e) => e.user === userId);
  return users.user === userId ? users : undefined;
}

function isList(users: DocUser | readonly DocUser[]): users is readonly DocUser[] {
  return Array.isArray(users);
}

/** `users` (not holding `added.user`) with `added`: a pair, an array of exactly its length, or a `Map` past SMALL_MEMBERS. */
function withUser(users: DocUser | readonly DocUser[] | undefined, added: DocUser): DocUsers {
  if (users === undefined) return added;
  const all = isList(users) ? [...users, added] : [users, added];
  if (all.length <= SMALL_MEMBERS) return all;
  return new Map(all.map((e) => [e.user, e.sessions]));
}

function sessionsIn(users: DocUsers | undefined, userId: UserId): Members<SessionId> | undefined {
  if (users instanceof Map) return users.get(userId);
  return entryOf(users, userId)?.sessions;
}

function usersOf(users: DocUsers | undefined): Iterable<readonly [UserId, Members<SessionId>]> {
  if (users === undefined) return [];
  if (users instanceof Map) return users;
  const entries = isList(users) ? users : [users];
  return entries.map((e) => [e.user, e.sessions] as const);
}

function byFirst(a: [string, number], b: [string, number]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
