/** A period is worked through in this many slices: each tick takes one slot of the members. */
const SLOTS = 10;

/**
 * One timer per heart-beat period for the whole node, instead of one or two per session: an idle
 * session then costs an entry in a Set, not two Timeout objects and their closures (issue 7's
 * connection cost). Sessions that negotiated the same period (the usual case: one client config)
 * share a group; a group's timer goes when its last member leaves. A group's members are spread
 * over slots, one slot per tenth of the period, so 20,000 sessions do not all beat in one turn of
 * the event loop (a stall every period) but 2,000 at a time.
 */
export class HeartbeatWheel<T> {
  private readonly groups = new Map<number, Group<T>>();

  constructor(private readonly tick: (member: T, now: number) => void) {}

  add(periodMs: number, member: T): void {
    let group = this.groups.get(periodMs);
    if (!group) this.groups.set(periodMs, (group = new Group(periodMs, this.tick)));
    group.add(member);
  }

  remove(periodMs: number, member: T): void {
    const group = this.groups.get(periodMs);
    if (!group?.remove(member) || group.size > 0) return;
    group.stop();
    this.groups.delete(periodMs);
  }

  /** Members over all groups (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.size;
    return n;
  }
}

/** The members of one period, in slots; each is ticked once per period. */
class Group<T> {
  private readonly slots: Set<T>[];
  private readonly timer: NodeJS.Timeout;
  private turn = 0;

  constructor(periodMs: number, tick: (member: T, now: number) => void) {
    // Below 10 ms a slice would be under the timer's resolution: one slot then.
    const count = periodMs >= 10 * SLOTS ? SLOTS : 1;
    this.slots = Array.from({ length: count }, () => new Set<T>());
    this.timer = setInterval(() => {
      const slot = this.slots[this.turn++ % count] as Set<T>;
      const now = Date.now();
      for (const m of slot) tick(m, now);
    }, periodMs / count);
    this.timer.unref(); // sessions keep the process alive, not their heart-beats
  }

  get size(): number {
    let n = 0;
    for (const s of this.slots) n += s.size;
    return n;
  }

  /** Into the emptiest slot, so the slices stay even as sessions come and go. */
  add(member: T): void {
    let emptiest = this.slots[0] as Set<T>;
    for (const s of this.slots) {
      if (s.has(member)) return;
      if (s.size < emptiest.size) emptiest = s;
    }
    emptiest.add(member);
  }

  remove(member: T): boolean {
    for (const s of this.slots) if (s.delete(member)) return true;
    return false;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
