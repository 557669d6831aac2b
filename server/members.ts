/**
 * A set that holds one member as itself and makes a `Set` only for a second one. The node's
 * indexes keep a set per user (their sessions, their subscriptions to a destination), and almost
 * every user has one: an empty `Set` costs ~170 bytes, a large part of an idle session's memory.
 * A member must never itself be a `Set`.
 */
export type Members<T> = T | Set<T>;

/** Adds `member` to the set stored under `key`; true when it was not in it yet. */
export function addMember<K, T>(map: Map<K, Members<T>>, key: K, member: T): boolean {
  const held = map.get(key);
  if (held === undefined) {
    map.set(key, member);
    return true;
  }
  if (held instanceof Set) {
    if (held.has(member)) return false;
    held.add(member);
    return true;
  }
  if (held === member) return false;
  map.set(key, new Set([held, member]));
  return true;
}

/** Removes `member` from the set stored under `key`, and the key once the set is empty; true when it was in it. */
export function removeMember<K, T>(map: Map<K, Members<T>>, key: K, member: T): boolean {
  const held = map.get(key);
  if (held === undefined) return false;
  if (!(held instanceof Set)) {
    if (held !== member) return false;
    map.delete(key);
    return true;
  }
  if (!held.delete(member)) return false;
  if (held.size === 1) map.set(key, held.values().next().value as T);
  return true;
}

export function memberCount<T>(held: Members<T> | undefined): number {
  return held === undefined ? 0 : held instanceof Set ? held.size : 1;
}

/** The members, to iterate (a one-member set as an array of one). */
export function membersOf<T>(held: Members<T> | undefined): Iterable<T> {
  return held === undefined ? [] : held instanceof Set ? held : [held];
}
