/** The part of an amqplib channel the batcher uses. */
export interface AckChannel<M> {
  ack(message: M, allUpTo?: boolean): void;
}

/** How a delivery stands: its handler runs, it finished (ack due), or it was settled alone. */
const PENDING = 0;
const DONE = 1;
const SETTLED = 2;

interface Entry<M> {
  readonly message: M;
  state: typeof PENDING | typeof DONE | typeof SETTLED;
}

/**
 * Acknowledges a consumer channel's deliveries in batches: one `basic.ack` with `multiple` for
 * every finished delivery up to the oldest unfinished one, once per turn of the event loop,
 * instead of one frame (and one socket write) per message. Handlers finish out of delivery order
 * (they run in parallel across origin nodes), so a slow one holds back the acks behind it; past
 * `maxHeld` held-back acks they go out one by one, so a stuck handler cannot use up the prefetch
 * window and stall the consumer.
 */
export class AckBatcher<M> {
  private entries: Entry<M>[] = [];
  private head = 0;
  private held = 0;
  private scheduled = false;

  constructor(
    private readonly channel: AckChannel<M>,
    private readonly maxHeld: number,
    /** Runs `flush` later in this turn's aftermath; tests pass their own. */
    private readonly schedule: (flush: () => void) => void = setImmediate,
  ) {}

  /** Deliveries, in the order the channel delivered them. Returns the handle `done`/`settled` take. */
  delivered(message: M): Entry<M> {
    const entry: Entry<M> = { message, state: PENDING };
    this.entries.push(entry);
    return entry;
  }

  /** The handler finished: the delivery is acked with the next batch. */
  done(entry: Entry<M>): void {
    if (entry.state !== PENDING) return;
    entry.state = DONE;
    this.held++;
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }

  /** The delivery was nacked (or acked) on its own: the batch steps over it. */
  settled(entry: Entry<M>): void {
    if (entry.state === DONE) this.held--;
    entry.state = SETTLED;
  }

  /**
   * Sends the acks that are due now. `final` (before the channel closes): also every finished
   * delivery behind a handler that is still running, one by one, so none of them comes back.
   */
  flush(final = false): void {
    this.scheduled = false;
    let last: Entry<M> | undefined;
    while (this.head < this.entries.length) {
      const e = this.entries[this.head] as Entry<M>;
      if (e.state === PENDING) break;
      if (e.state === DONE) {
        last = e;
        this.held--;
      }
      this.head++;
    }
    // `multiple` acks every outstanding delivery up to this one; settled ones are not outstanding.
    if (last) this.channel.ack(last.message, true);
    if (this.held > this.maxHeld || (final && this.held > 0)) {
      // Ack the finished ones alone and keep only the running ones: while a handler is stuck,
      // the list stays as long as the prefetch window, not as long as the stream behind it.
      const running: Entry<M>[] = [];
      for (let i = this.head; i < this.entries.length; i++) {
        const e = this.entries[i] as Entry<M>;
        if (e.state === DONE) {
          this.channel.ack(e.message, false);
          e.state = SETTLED;
        } else if (e.state === PENDING) {
          running.push(e);
        }
      }
      this.entries = running;
      this.head = 0;
      this.held = 0;
    }
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}

export type AckHandle<M> = ReturnType<AckBatcher<M>['delivered']>;
