/**
 * A set that holds one member as itself, a few in an array, and makes a `Set` only past
 * SMALL_MEMBERS. The node's indexes keep a set per user (their sessions), per destination (its
 * subscribers) and per binding key, and almost all of them hold one or two members: an empty
 * `Set` costs ~150 bytes, a two-member array ~60, a large part of an idle session's memory either
 * way. A member must never itself be a `Set` or an array.
 */
export type Members<T> = T | readonly T[] | Set<T>;

/** An array holds at most this many members; a linear search of them is as quick as a hash. */
export const SMALL_MEMBERS = 8;

export function hasMember<T>(held: Members<T> | undefined, member: T): boolean {
  if (held instanceof Set) return held.has(member);
  if (isSmall(held)) return held.includes(member);
  return held === member;
}

/** `held` with `member` added (a `Set` is changed in place); call when it is not in it yet. */
export function withMember<T>(held: Members<T> | undefined, member: T): Members<T> {
  if (held === undefined) return member;
  if (held instanceof Set) return held.add(member);
  // A new array each time: one of exactly its length, where a push would leave spare room.
  if (!isSmall(held)) return [held, member];
  return held.length < SMALL_MEMBERS ? [...held, member] : new Set([...held, member]);
}

/** `held` without `member` (a `Set` is changed in place), undefined when none is left; call when it is in it. */
export function withoutMember<T>(held: Members<T>, member: T): Members<T> | undefined {
  if (held instanceof Set) {
    held.delete(member);
    // Back to an array only well below the limit, so a set at the limit does not flip at each change.
    if (held.size > SMALL_MEMBERS / 2) return held;
    return held.size === 1 ? held.values().next().value : [...held];
  }
  if (!isSmall(held)) return undefined;
  const left = held.filter((m) => m !== member);
  return left.length === 1 ? left[0] : left;
}

/** Adds `member` to the set stored under `key`; true when it was not in it yet. */
export function addMember<K, T>(map: Map<K, Members<T>>, key: K, member: T): boolean {
  const held = map.get(key);
  if (hasMember(held, member)) return false;
  const next = withMember(held, member);
  if (next !== held) map.set(key, next);
  return true;
}

/** Removes `member` from the set stored under `key`, and the key once the set is empty; true when it was in it. */
export function removeMember<K, T>(map: Map<K, Members<T>>, key: K, member: T): boolean {
  const held = map.get(key);
  if (held === undefined || !hasMember(held, member)) return false;
  const left = withoutMember(held, member);
  if (left === undefined) map.delete(key);
  else if (left !== held) map.set(key, left);
  return true;
}

export function memberCount<T>(held: Members<T> | undefined): number {
  if (held === undefined) return 0;
  if (held instanceof Set) return held.size;
  return isSmall(held) ? held.length : 1;
}

/**
 * The members, to iterate (one member as an array of one). One or a few are a snapshot; a `Set`
 * is the live set, as before: a caller that changes it while iterating sees the change.
 */
export function membersOf<T>(held: Members<T> | undefined): Iterable<T> {
  if (held === undefined) return [];
  if (held instanceof Set || isSmall(held)) return held;
  return [held];
}

/** Appends the members to `out`; no iterable is made for one member (a hot path's way). */
export function appendMembers<T>(out: T[], held: Members<T> | undefined): void {
  if (held === undefined) return;
  if (held instanceof Set || isSmall(held)) for (const m of held) out.push(m);
  else out.push(held);
}

function isSmall<T>(held: Members<T> | undefined): held is readonly T[] {
  return Array.isArray(held);
}
