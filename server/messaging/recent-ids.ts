import { addMember, hasMember, type Members } from '../members.js';

/**
 * The deliveries of the last `capacity` message ids, in a ring: `add` answers false for an
 * (id, member) pair still in it. The node's router keeps one, to drop the second copy an
 * at-least-once hop may bring. Keyed by the message's own id (one string shared by every local
 * delivery of it), not a key made per delivery.
 */
export class RecentIds<T> {
  private readonly seen = new Map<string, Members<T>>();
  private readonly ring: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  /** Whether (id, to) is still in it. */
  has(id: string, to: T): boolean {
    return hasMember(this.seen.get(id), to);
  }

  add(id: string, to: T): boolean {
    const known = this.seen.has(id);
    if (!addMember(this.seen, id, to)) return false;
    if (known) return true;
    if (this.ring.length < this.capacity) {
      this.ring.push(id);
    } else {
      this.seen.delete(this.ring[this.next] as string);
      this.ring[this.next] = id;
      this.next = (this.next + 1) % this.capacity;
    }
    return true;
  }
}
