/**
 * CONNECTs in progress on a node (authentication, registry write): past the bound a new one is
 * refused at once with BUSY (close 1013) instead of queueing behind a storm until every session
 * of it times out; the client's reconnect back-off spreads the retries.
 */
export class ConnectAdmission {
  #inProgress = 0;
  constructor(private readonly max: number) {}

  enter(): boolean {
    if (this.#inProgress >= this.max) return false;
    this.#inProgress++;
    return true;
  }

  leave(): void {
    this.#inProgress--;
  }
}
