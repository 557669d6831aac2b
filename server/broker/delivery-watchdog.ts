/** How often a consumer that got no delivery is checked for ready messages it is not given. */
export const STALL_CHECK_MS = 5_000;

/**
 * Notices a consumer RabbitMQ stopped feeding without telling: no delivery and no handler running
 * for two checks in a row while its queue holds ready messages. Seen on a RabbitMQ cluster after
 * members died: a node kept its connection and consumer but got nothing for minutes while its
 * quorum queue filled. The owner then reconnects (what was unacked comes again; ids allow dedup).
 * An idle consumer costs one queue check per interval.
 */
export class DeliveryWatchdog {
  #delivered = false;
  #suspect = false;
  #probing = false;
  readonly #timer: NodeJS.Timeout;

  /**
   * @param ready     the queue's ready messages (a passive declare)
   * @param busy      true while a delivery's handler still runs (a slow handler is not a stall)
   * @param onStalled called once; the watchdog is stopped by then
   */
  constructor(
    private readonly ready: () => Promise<number>,
    private readonly busy: () => boolean,
    private readonly onStalled: (ready: number) => void,
    everyMs = STALL_CHECK_MS,
  ) {
    this.#timer = setInterval(() => void this.#check(), everyMs);
    this.#timer.unref();
  }

  /** A delivery arrived. */
  delivered(): void {
    this.#delivered = true;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #check(): Promise<void> {
    if (this.#probing) return;
    if (this.#delivered || this.busy()) {
      this.#delivered = false;
      this.#suspect = false;
      return;
    }
    this.#probing = true;
    // A failed check (channel closing) says nothing: the channel's own close handling reconnects.
    const ready = await this.ready().catch(() => 0);
    this.#probing = false;
    if (ready === 0 || this.#delivered) {
      this.#suspect = false;
    } else if (this.#suspect) {
      this.stop();
      this.onStalled(ready);
    } else {
      this.#suspect = true;
    }
  }
}
