/**
 * Items gathered during one turn of the event loop and sent together: the batch closes at
 * setImmediate (after the socket reads of this turn, with no timer), or as it reaches `max` items.
 * A reconnect storm's thousands of route invalidations and presence notices thus leave in a few
 * broker messages rather than one each.
 */
export class TurnBatch<T> {
  private open: { readonly items: T[]; readonly sent: Promise<void> } | undefined;

  constructor(
    private readonly max: number,
    private readonly send: (items: T[]) => Promise<void>,
  ) {}

  /** Resolves (or rejects) as `send` does for the batch `item` went out in. */
  add(item: T): Promise<void> {
    let batch = this.open;
    if (batch === undefined || batch.items.length >= this.max) {
      const items: T[] = [];
      const sent = new Promise((resolve) => setImmediate(resolve)).then(() => {
        if (this.open?.items === items) this.open = undefined;
        return this.send(items);
      });
      batch = this.open = { items, sent };
    }
    batch.items.push(item);
    return batch.sent;
  }
}
