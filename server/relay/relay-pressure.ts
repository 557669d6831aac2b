/**
 * Flow control for what feeds the node hop (SPEC §9): while the relay buffer holds `high` or more
 * messages and RabbitMQ is connected (it is only slow to confirm), the sources that send into it
 * stop reading — sockets are paused, HTTP pushes wait — and they go on once it is down to `low`.
 * While RabbitMQ is unreachable the gate stays open: the buffer fills, and what does not fit is
 * refused (ERROR / 503), as before.
 */
export class RelayPressure {
  private isClosed = false;
  private waiters: (() => void)[] = [];

  /** @param high messages at which sources pause; @param low messages at which they go on */
  constructor(
    readonly high: number,
    readonly low: number,
  ) {
    if (!(low >= 0 && low < high)) throw new RangeError(`RelayPressure needs 0 ≤ low < high (got ${low}, ${high})`);
  }

  /** True while sources must hold back. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** The buffer now holds `load` messages; `connected`: RabbitMQ is reachable. Cheap: called on every change. */
  update(load: number, connected: boolean): void {
    if (this.isClosed) {
      if (load <= this.low || !connected) this.open();
    } else if (connected && load >= this.high) {
      this.isClosed = true;
    }
  }

  /** Runs `f` once the gate is open (now, if it is). */
  onOpen(f: () => void): void {
    if (this.isClosed) this.waiters.push(f);
    else f();
  }

  /** Resolves once the gate is open. */
  whenOpen(): Promise<void> {
    return this.isClosed ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }

  private open(): void {
    this.isClosed = false;
    for (const f of this.waiters.splice(0)) f();
  }
}
