/**
 * The last `capacity` ids seen, in a ring: `add` answers false for an id still in it. A session
 * makes one on its first delivery, to drop the second copy an at-least-once hop may bring.
 */
export class RecentIds {
  private readonly set = new Set<string>();
  private readonly ring: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  add(id: string): boolean {
    const set = this.set;
    if (set.has(id)) return false;
    if (this.ring.length < this.capacity) {
      this.ring.push(id);
    } else {
      set.delete(this.ring[this.next] as string);
      this.ring[this.next] = id;
      this.next = (this.next + 1) % this.capacity;
    }
    set.add(id);
    return true;
  }
}
