/**
 * One timer per heart-beat period for the whole node, instead of one or two per session: an idle
 * session then costs an entry in a Set, not two Timeout objects and their closures (issue 7's
 * connection cost). Sessions that negotiated the same period (the usual case: one client config)
 * share a group; a group's timer goes when its last member leaves.
 */
export class HeartbeatWheel<T> {
  private readonly groups = new Map<number, { readonly members: Set<T>; readonly timer: NodeJS.Timeout }>();

  constructor(private readonly tick: (member: T, now: number) => void) {}

  add(periodMs: number, member: T): void {
    let group = this.groups.get(periodMs);
    if (!group) {
      const members = new Set<T>();
      const timer = setInterval(() => {
        const now = Date.now();
        for (const m of members) this.tick(m, now);
      }, periodMs);
      timer.unref(); // sessions keep the process alive, not their heart-beats
      this.groups.set(periodMs, (group = { members, timer }));
    }
    group.members.add(member);
  }

  remove(periodMs: number, member: T): void {
    const group = this.groups.get(periodMs);
    if (!group?.members.delete(member) || group.members.size > 0) return;
    clearInterval(group.timer);
    this.groups.delete(periodMs);
  }

  /** Members over all groups (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.members.size;
    return n;
  }
}
