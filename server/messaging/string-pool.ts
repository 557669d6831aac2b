/**
 * Equal strings that many sessions keep, held once: every session's SUBSCRIBE brings its own copy
 * of the subscription's id (`sub-0` from every STOMP.js client) and destination (the ten users of a
 * document subscribe to the same two). Kept, they are ~150 bytes of an idle session's memory; from
 * the pool, a few bytes. Bounded: the pool is emptied when full (a node with that many distinct
 * strings gains little from it), and long strings, rarely shared, are not pooled.
 */
export class StringPool {
  private readonly strings = new Map<string, string>();

  constructor(
    private readonly maxStrings = 16_384,
    private readonly maxLength = 128,
  ) {}

  /** The pooled string equal to `s`: `s` itself the first time. */
  intern(s: string): string {
    if (s.length > this.maxLength) return s;
    const held = this.strings.get(s);
    if (held !== undefined) return held;
    if (this.strings.size >= this.maxStrings) this.strings.clear();
    this.strings.set(s, s);
    return s;
  }

  get size(): number {
    return this.strings.size;
  }
}

/** The node's pool of subscription ids and destinations. */
export const subscriptionStrings = new StringPool();
