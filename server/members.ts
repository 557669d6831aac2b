/**
 * A set that holds one member as itself and makes a `Set` only for a second one. The node's
 * indexes keep a set per user (their sessions, their subscriptions to a destination), and almost
 * every user has one: an empty `Set` costs ~170 bytes, a large part of an idle session's memory.
 * A member must never itself be a `Set`.
 */
export type Members<T> = T | Set<T>;

export function hasMember<T>(held: Members<T> | undefined, member: T): boolean {
  return held instanceof Set ? held.has(member) : held === member;
}

/** `held` with `member` added (a `Set` is changed in place); call when it is not in it yet. */
export function withMember<T>(held: Members<T> | undefined, member: T): Members<T> {
  if (held === undefined) return member;
  if (held instanceof Set) return held.add(member);
  return new Set([held, member]);
}

/** `held` without `member` (a `Set` is changed in place), undefined when none is left; call when it is in it. */
export function withoutMember<T>(held: Members<T>, member: T): Members<T> | undefined {
  if (!(held instanceof Set)) return undefined;
  held.delete(member);
  return held.size === 1 ? held.values().next().value : held;
}

/** Adds `member` to the set stored under `key`; true when it was not in it yet. */
export function addMember<K, T>(map: Map<K, Members<T>>, key: K, member: T): boolean {
  const held = map.get(key);
  if (hasMember(held, member)) return false;
  map.set(key, withMember(held, member));
  return true;
}

/** Removes `member` from the set stored under `key`, and the key once the set is empty; true when it was in it. */
export function removeMember<K, T>(map: Map<K, Members<T>>, key: K, member: T): boolean {
  const held = map.get(key);
  if (held === undefined || !hasMember(held, member)) return false;
  const left = withoutMember(held, member);
  if (left === undefined) map.delete(key);
  else map.set(key, left);
  return true;
}

export function memberCount<T>(held: Members<T> | undefined): number {
  return held === undefined ? 0 : held instanceof Set ? held.size : 1;
}

/** The members, to iterate (a one-member set as an array of one). */
export function membersOf<T>(held: Members<T> | undefined): Iterable<T> {
  return held === undefined ? [] : held instanceof Set ? held : [held];
}
