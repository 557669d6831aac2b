/**
 * CONNECTs in progress on a node (authentication, registry write): past the bound a new one is
 * refused at once with BUSY (close 1013) instead of queueing behind a storm until every session
 * of it times out; the client's reconnect back-off spreads the retries. Before the node is ready
 * the first time (Redis and RabbitMQ reached, its queue declared) every CONNECT is refused the
 * same way: a session accepted then would get nothing from other nodes until the node is ready,
 * and the client's retry finds a ready node through the balancer.
 */
export class ConnectAdmission {
  #inProgress = 0;
  #open: boolean;

  constructor(
    private readonly max: number,
    open = true,
  ) {
    this.#open = open;
  }

  /** The node is ready: CONNECTs are taken from now on, within the bound. */
  open(): void {
    this.#open = true;
  }

  /** Undefined when admitted (call `leave` when the CONNECT is done); else why it is refused. */
  enter(): string | undefined {
    if (!this.#open) return 'the node is starting (Redis and RabbitMQ not reached yet); reconnect in a moment';
    if (this.#inProgress >= this.max) return 'the node is taking too many CONNECTs at once; reconnect in a moment';
    this.#inProgress++;
    return undefined;
  }

  leave(): void {
    this.#inProgress--;
  }
}
