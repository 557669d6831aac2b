import type { ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import type { RelayPressure } from '../relay/relay-pressure.js';
import { asString, BrokerClosedError, errorMessage, type BrokerLog } from './amqp-util.js';

/** `sendToNodes`/`publish` rejected because too many publishes already wait for RabbitMQ. */
export class PublishBufferFullError extends Error {
  override readonly name = 'PublishBufferFullError';
  constructor(readonly limit: number) {
    super(`RabbitMQ publish buffer is full (${limit} messages waiting); message not accepted`);
  }
}

/** One publish on its way: buffered, or sent and waiting for its confirm. */
interface Outgoing {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
  /** Relay messages it carries (a batch carries several): what the buffer limit counts. */
  readonly records: number;
  /** Publish order: what goes out again after a lost channel keeps it. */
  readonly seq: number;
  /** The channel it was last sent on; confirms from any other channel are stale. */
  channel: ConfirmChannel | undefined;
  /** A `basic.return` came back for it: no queue was bound to its routing key. */
  returned: boolean;
  /** Times it was sent; a message that keeps killing the channel is given up on. */
  sends: number;
  /** When RabbitMQ first nacked it (a quorum queue without a leader, mid-election): retried until NACK_GIVE_UP_MS later. */
  nackedAt: number | undefined;
  settled: boolean;
  resolve(returned: boolean): void;
  reject(err: Error): void;
}

/** Sending the same message this many times without a confirm (each time losing the channel) rejects it. */
const MAX_SENDS = 3;

/**
 * A nacked publish is sent again (on a fresh channel) for this long before it is refused. RabbitMQ
 * nacks while a quorum queue elects a leader after a member died (seconds), and a channel that saw
 * it may keep nacking after the election (3.10): a fresh channel does not.
 */
const NACK_GIVE_UP_MS = 30_000;

/**
 * Publishes on a confirm channel and resolves each publish when RabbitMQ confirmed it. Publishes
 * made while no channel is attached, and sent ones whose channel died before their confirm, wait
 * in a bounded buffer and go out in order once a channel is attached again (so a message may
 * arrive twice: ids allow dedup). The limit counts relay messages, not AMQP messages: while
 * RabbitMQ is unreachable a full buffer refuses more; while connected, `pressure` slows the
 * sources down instead.
 */
export class ConfirmPublisher {
  private ch: ConfirmChannel | undefined;
  /** `publish` returned false: wait for `drain` before sending more. */
  private blocked = false;
  /**
   * Publishes to a routing key RabbitMQ nacked on this channel (its queue has no leader), oldest
   * first: they wait for a fresh channel (see NACK_GIVE_UP_MS) while other routing keys go on, so
   * one node's sick queue does not stop every other node's messages.
   */
  private parked = new Map<string, Outgoing[]>();
  private nextSeq = 0;
  /** Waiting to be sent, oldest first; `head` is the index of the oldest. */
  private pending: Outgoing[] = [];
  private head = 0;
  /** Sent and not yet confirmed, in send order. */
  private readonly inflight = new Set<Outgoing>();
  /** Mandatory publishes awaiting confirm, by routing key and message id, to match a `basic.return`. */
  private readonly returnable = new Map<string, Outgoing[]>();
  /** Relay messages buffered or unconfirmed. */
  private records = 0;

  /**
   * @param maxPending relay messages waiting for RabbitMQ (buffered or unconfirmed) at most while disconnected
   * @param pressure told of every change of the load
   */
  constructor(
    private readonly maxPending: number,
    private readonly pressure?: RelayPressure,
    /** RabbitMQ nacked a publish: the owner gives the publisher a fresh channel (`attach`) after a pause. */
    private readonly onNack: () => void = () => undefined,
  ) {}

  /** Relay messages waiting for RabbitMQ: buffered, or sent and not confirmed yet. */
  get load(): number {
    return this.records;
  }

  /** Publishes waiting to be sent. */
  get waiting(): number {
    let n = this.pending.length - this.head;
    for (const list of this.parked.values()) n += list.length;
    return n;
  }

  get unconfirmed(): number {
    return this.inflight.size;
  }

  /** A ready channel: what waits goes out now. Its `return` and `drain` events must reach `onReturn` and `onDrain`. */
  attach(ch: ConfirmChannel): void {
    this.ch = ch;
    this.blocked = false;
    this.unpark();
    this.pressure?.update(this.records, true);
    this.flush();
  }

  onDrain(): void {
    this.blocked = false;
    this.flush();
  }

  /** RabbitMQ sends `basic.return` before the confirm of the same message; mark the oldest match. */
  onReturn(m: Message): void {
    const key = returnKey(m.fields.routingKey, asString(m.properties.messageId));
    const o = this.returnable.get(key)?.find((x) => !x.returned);
    if (o) o.returned = true;
  }

  /**
   * The channel is gone. Sent but unconfirmed publishes were not accepted yet, so they go out
   * again, ahead of newer ones (order); one that keeps killing its channel is rejected.
   */
  detach(): void {
    this.ch = undefined;
    this.blocked = false;
    this.unpark();
    const again: Outgoing[] = [];
    for (const o of this.inflight) {
      o.channel = undefined;
      o.returned = false;
      if (o.sends >= MAX_SENDS)
        this.settle(o, new Error(`RabbitMQ closed the channel ${o.sends} times before confirming this message`));
      else again.push(o);
    }
    this.inflight.clear();
    this.returnable.clear();
    // In publish order: a nacked one went back in line while later ones were still in flight.
    this.pending = again.concat(this.pending.slice(this.head)).sort((a, b) => a.seq - b.seq);
    this.head = 0;
    this.pressure?.update(this.records, false);
  }

  /** Resolves once RabbitMQ confirmed (or refused) everything sent on the attached channel. Never rejects. */
  waitForConfirms(): Promise<void> {
    return this.ch ? this.ch.waitForConfirms().catch(() => undefined) : Promise.resolve();
  }

  /** The broker closes: every publish not confirmed yet is rejected. */
  close(): void {
    this.ch = undefined;
    this.unpark();
    for (const o of this.pending.slice(this.head))
      this.settle(o, new BrokerClosedError('RabbitBroker closed before the message was published'));
    this.pending = [];
    this.head = 0;
    for (const o of this.inflight)
      this.settle(o, new BrokerClosedError('RabbitBroker closed before RabbitMQ confirmed the message'));
    this.inflight.clear();
  }

  /** Resolves with whether RabbitMQ returned the message (mandatory and no queue), once confirmed. */
  /**
   * Counts `records` relay messages into the buffer before they are published (a batch admits
   * each as it is added, so the limit applies per message); throws PublishBufferFullError when
   * they do not fit. Every admitted record must then go out with `publish`, which releases it.
   */
  admit(records: number): void {
    // While connected the limit is flow control's (RelayPressure pauses every source at half of
    // it; what goes past is bounded by one socket read per paused sender), not a refusal.
    if (this.ch === undefined && this.records + records > this.maxPending)
      throw new PublishBufferFullError(this.maxPending);
    this.records += records;
    this.pressure?.update(this.records, this.ch !== undefined);
  }

  /** Publishes `records` admitted relay messages as one AMQP message. */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
    records: number,
  ): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const o: Outgoing = {
        exchange,
        routingKey,
        content,
        options,
        records,
        seq: this.nextSeq++,
        channel: undefined,
        returned: false,
        sends: 0,
        nackedAt: undefined,
        settled: false,
        resolve,
        reject,
      };
      const parked = this.parked.get(routingKey);
      if (parked) parked.push(o);
      else if (!(this.ch && !this.blocked && this.head === this.pending.length && this.send(this.ch, o)))
        this.pending.push(o);
    });
  }

  private flush(): void {
    while (this.ch && !this.blocked && this.head < this.pending.length) {
      const o = this.pending[this.head] as Outgoing;
      this.head++;
      const parked = this.parked.get(o.routingKey);
      if (parked) {
        parked.push(o); // behind the nacked one of its key, as published
        continue;
      }
      if (!o.settled && !this.send(this.ch, o)) {
        this.head--;
        break;
      }
    }
    if (this.head === this.pending.length) {
      this.pending = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }

  /** Publishes on `ch`; false when the channel turned out to be closed: the caller keeps `o` first in line. */
  private send(ch: ConfirmChannel, o: Outgoing): boolean {
    const key = o.options.mandatory ? returnKey(o.routingKey, o.options.messageId) : undefined;
    o.channel = ch;
    o.sends++;
    this.inflight.add(o);
    if (key !== undefined) {
      const list = this.returnable.get(key);
      if (list) list.push(o);
      else this.returnable.set(key, [o]);
    }
    try {
      const ok = ch.publish(o.exchange, o.routingKey, o.content, o.options, (err: unknown) =>
        this.onConfirm(ch, o, err),
      );
      if (!ok) this.blocked = true;
      return true;
    } catch (err) {
      this.inflight.delete(o);
      if (key !== undefined) this.forgetReturnable(key, o);
      o.channel = undefined;
      o.sends--;
      if (ch !== this.ch) return false;
      // Not a closed channel: the message itself cannot be encoded (e.g. headers over 64 KiB).
      this.settle(o, new Error(`RabbitMQ publish failed: ${errorMessage(err)}`, { cause: err }));
      return true;
    }
  }

  private onConfirm(ch: ConfirmChannel, o: Outgoing, err: unknown): void {
    // Stale: `detach` already moved it back to the buffer, or it was settled at close.
    if (o.channel !== ch || !this.inflight.has(o)) return;
    this.inflight.delete(o);
    if (o.options.mandatory) this.forgetReturnable(returnKey(o.routingKey, o.options.messageId), o);
    if (err) {
      const now = Date.now();
      o.nackedAt ??= now;
      if (now - o.nackedAt >= NACK_GIVE_UP_MS) {
        this.settle(o, new Error('RabbitMQ did not accept the message (nack)', { cause: err }));
      } else {
        // Parked with what waits for its routing key, for the fresh channel the owner attaches; a
        // nack is not a send that killed a channel.
        o.sends--;
        o.channel = undefined;
        o.returned = false;
        this.park(o);
        this.onNack();
        if (this.head < this.pending.length) this.flush();
        return;
      }
    } else {
      this.settle(o, undefined);
    }
    if (this.head < this.pending.length) this.flush();
  }

  /** Holds `o` and, from now until `unpark`, every publish to its routing key, in publish order. */
  private park(o: Outgoing): void {
    let list = this.parked.get(o.routingKey);
    if (!list) {
      list = [];
      this.parked.set(o.routingKey, list);
      // What already waits for that key goes behind it; the rest keeps its place.
      const rest: Outgoing[] = [];
      for (let i = this.head; i < this.pending.length; i++) {
        const p = this.pending[i] as Outgoing;
        (p.routingKey === o.routingKey ? list : rest).push(p);
      }
      this.pending = rest;
      this.head = 0;
    }
    list.push(o);
    list.sort((a, b) => a.seq - b.seq);
  }

  /** Everything parked back in line, in publish order. */
  private unpark(): void {
    if (this.parked.size === 0) return;
    const all = this.pending.slice(this.head);
    for (const list of this.parked.values()) for (const o of list) all.push(o);
    this.parked.clear();
    this.pending = all.sort((a, b) => a.seq - b.seq);
    this.head = 0;
  }

  private forgetReturnable(key: string, o: Outgoing): void {
    const list = this.returnable.get(key);
    if (!list) return;
    const i = list.indexOf(o);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.returnable.delete(key);
  }

  private settle(o: Outgoing, err: Error | undefined): void {
    if (o.settled) return;
    o.settled = true;
    this.records -= o.records;
    this.pressure?.update(this.records, this.ch !== undefined);
    if (err) o.reject(err);
    else o.resolve(o.returned);
  }
}

function returnKey(routingKey: string, messageId: unknown): string {
  return `${routingKey}\n${asString(messageId) ?? ''}`;
}

/** A confirm channel of `conn` whose `return` and `drain` events reach `publisher`; `onClose` runs first when it closes. */
export async function openConfirmChannel(
  conn: ChannelModel,
  publisher: ConfirmPublisher,
  log: BrokerLog,
  onClose: () => void,
): Promise<ConfirmChannel> {
  const pub = await conn.createConfirmChannel();
  // Prepended: amqplib's own close listener fails the unconfirmed callbacks with "channel
  // closed"; `onClose` must move them back to the buffer first, so they are republished.
  pub.prependListener('close', onClose);
  pub.on('error', (err: Error) => log.warn({ err: errorMessage(err) }, 'RabbitMQ publish channel error'));
  pub.on('return', (m: Message) => publisher.onReturn(m));
  pub.on('drain', () => publisher.onDrain());
  return pub;
}

/** How long opening a fresh publish channel may take before the connection counts as lost. */
const SWAP_TIMEOUT_MS = 5_000;

/**
 * Gives `publisher` a fresh confirm channel of `conn` in place of `old` (which RabbitMQ keeps
 * nacking on): what was unconfirmed goes out again on the fresh one, in order; `old` closes
 * without counting as a lost channel. Resolves with the fresh channel, or undefined when the
 * channel could not be opened within SWAP_TIMEOUT_MS (amqplib may never answer on a connection a
 * dying member holds) or `stillCurrent()` turned false meanwhile: the owner then reconnects, as
 * what the publisher parked at the nack would otherwise never go out again.
 */
export async function swapConfirmChannel(
  conn: ChannelModel,
  publisher: ConfirmPublisher,
  log: BrokerLog,
  onClose: () => void,
  stillCurrent: () => boolean,
  old: ConfirmChannel | undefined,
): Promise<ConfirmChannel | undefined> {
  const opening = openConfirmChannel(conn, publisher, log, onClose);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), SWAP_TIMEOUT_MS);
  });
  try {
    const fresh = await Promise.race([opening, timedOut]);
    if (!fresh || !stillCurrent()) {
      if (!fresh) log.warn({ timeoutMs: SWAP_TIMEOUT_MS }, 'RabbitMQ did not open a fresh publish channel in time');
      // Opened late, or no longer wanted: closed without counting as a lost channel.
      void opening.then(quietClose, () => undefined);
      return undefined;
    }
    publisher.detach();
    publisher.attach(fresh);
    // Not awaited: a close RabbitMQ never answers must not hold the swap.
    if (old) void quietClose(old);
    return fresh;
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'could not open a fresh publish channel');
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

function quietClose(ch: ConfirmChannel): Promise<void> {
  ch.removeAllListeners('close');
  ch.on('error', () => undefined);
  return ch.close().catch(() => undefined);
}
