import type { Options } from 'amqplib';
import { encodeBatch } from '../relay/relay-envelope.js';

/** Where batches go: the buffer admits each message as it is added, a batch is published once. */
export interface BatchSink {
  /** Throws (buffer full, closed) when `records` more messages cannot be taken. */
  admit(records: number): void;
  /** Publishes admitted messages as one AMQP message; resolves with whether RabbitMQ returned it (mandatory, no queue). */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
    records: number,
  ): Promise<boolean>;
}

export interface BatchBounds {
  /** Relay messages in one AMQP message at most. */
  readonly maxRecords: number;
  /**
   * Batches for one key sent and not yet confirmed at most; what comes meanwhile waits for a
   * confirm and goes as one batch (group commit). Default 1.
   */
  readonly maxInflight?: number;
  /** Envelope bytes in one AMQP message at most (one bigger message still goes, alone). */
  readonly maxBytes: number;
}

interface Waiter {
  resolve(returned: boolean): void;
  reject(err: unknown): void;
}

/** Relay messages on their way to one exchange and routing key, not published yet. */
interface OpenBatch {
  readonly key: string;
  readonly exchange: string;
  readonly routingKey: string;
  readonly mandatory: boolean;
  readonly records: { readonly id: string; readonly envelope: Buffer }[];
  readonly waiters: Waiter[];
  bytes: number;
}

/**
 * The batched node hop: the relay messages a node accepts in one turn of the event loop for the
 * same exchange and routing key (one target node, or one broadcast key) leave as ONE persistent
 * AMQP message, published and confirmed once; each message's promise settles with that confirm.
 * A batch closes at the end of the turn (setImmediate: after the socket reads of this turn, with
 * no timer) — unless `maxInflight` batches of its key wait for their confirm: then it grows until
 * one is confirmed (group commit, so a busy node pays RabbitMQ per batch, an idle one sends at
 * once) — or as soon as it reaches a bound. A batch of one is a plain envelope, as before.
 * Order holds: batches for one key go out in the order they closed, records in the order added.
 */
export class RelayBatcher {
  private readonly open = new Map<string, OpenBatch>();
  /** Batches sent and not confirmed yet, by key. */
  private readonly inflight = new Map<string, number>();
  private readonly maxInflight: number;
  private scheduled = false;

  constructor(
    private readonly sink: BatchSink,
    private readonly persistent: boolean,
    private readonly bounds: BatchBounds,
    /** Runs `flush` after this turn's I/O; tests pass their own. */
    private readonly schedule: (flush: () => void) => void = setImmediate,
    /** Told the size of each batch published. */
    private readonly onBatch?: (records: number) => void,
  ) {
    this.maxInflight = Math.max(1, bounds.maxInflight ?? 1);
  }

  /** Adds one relay message (`envelope`: relay-envelope.ts version 1); resolves once RabbitMQ confirmed its batch. */
  add(exchange: string, routingKey: string, mandatory: boolean, id: string, envelope: Buffer): Promise<boolean> {
    try {
      this.sink.admit(1);
    } catch (err) {
      return Promise.reject(err);
    }
    const key = `${mandatory ? 'm' : 'b'}${exchange}\n${routingKey}`;
    let batch = this.open.get(key);
    if (batch === undefined) {
      batch = { key, exchange, routingKey, mandatory, records: [], waiters: [], bytes: 0 };
      this.open.set(key, batch);
      if (!this.scheduled) {
        this.scheduled = true;
        this.schedule(() => this.flush());
      }
    }
    const b = batch;
    const done = new Promise<boolean>((resolve, reject) => b.waiters.push({ resolve, reject }));
    b.records.push({ id, envelope });
    b.bytes += envelope.length + id.length + 8;
    if (b.records.length >= this.bounds.maxRecords || b.bytes >= this.bounds.maxBytes) {
      this.open.delete(key);
      this.send(b);
    }
    return done;
  }

  /** The turn ended: publishes every open batch whose key has room in flight. `all`: every one (at close). */
  flush(all = false): void {
    this.scheduled = false;
    for (const b of [...this.open.values()]) {
      if (all || (this.inflight.get(b.key) ?? 0) < this.maxInflight) {
        this.open.delete(b.key);
        this.send(b);
      }
    }
  }

  /** A batch of `key` was confirmed (or failed): the one that grew meanwhile goes now. */
  private settled(key: string): void {
    const n = (this.inflight.get(key) ?? 1) - 1;
    if (n > 0) this.inflight.set(key, n);
    else this.inflight.delete(key);
    const next = this.open.get(key);
    if (next !== undefined && !this.scheduled) {
      this.open.delete(key);
      this.send(next);
    }
  }

  private send(b: OpenBatch): void {
    this.inflight.set(b.key, (this.inflight.get(b.key) ?? 0) + 1);
    this.onBatch?.(b.records.length);
    const single = b.records.length === 1 ? b.records[0] : undefined;
    const content = single ? single.envelope : encodeBatch(b.records);
    // Unique like its first record's id; also what matches a `basic.return` to its publish.
    const messageId = single ? single.id : `${(b.records[0] as { id: string }).id}+${b.records.length}`;
    const options: Options.Publish = { messageId, persistent: this.persistent, mandatory: b.mandatory };
    this.sink.publish(b.exchange, b.routingKey, content, options, b.records.length).then(
      (returned) => {
        this.settled(b.key);
        for (const w of b.waiters) w.resolve(returned);
      },
      (err: unknown) => {
        this.settled(b.key);
        for (const w of b.waiters) w.reject(err);
      },
    );
  }
}
