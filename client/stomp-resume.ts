import type { Client, IFrame, IMessage, messageCallbackType, StompHeaders } from '@stomp/stompjs';
import { RESUME_HEADERS } from './headers.js';

/** Where a subscription stands in its stream: the epoch and offset of the last message it has. */
export interface StreamPosition {
  readonly epoch: string;
  readonly offset: number;
}

/** What the server said when it confirmed a (re)subscription. */
export interface SubscribeOutcome {
  /**
   * `true`: the messages missed were replayed before this RECEIPT. `false`: they could not be
   * (see `onNotRecovered`). Undefined for a plain subscription (nothing to resume from).
   */
  readonly recovered: boolean | undefined;
  /** Where the subscription stands now; undefined when the destination keeps no history. */
  readonly position: StreamPosition | undefined;
}

export interface ResumeOptions {
  /**
   * The subscription could not pick up where it left off: the server answered `x-recovered:false`
   * (the missed messages left its history), or the stream's epoch changed (its history was lost).
   * Messages go on from `position`; reload the state built from this destination. Called once per
   * (re)subscription at most.
   */
  readonly onNotRecovered?: (subscription: ResumableSubscription, position: StreamPosition) => void;
  /** A (re)subscription was confirmed by its RECEIPT (after every reconnect, too). */
  readonly onSubscribed?: (subscription: ResumableSubscription, outcome: SubscribeOutcome) => void;
}

export interface SubscribeOptions {
  /** Headers for every SUBSCRIBE (`ack`, `selector`...). `receipt` is the helper's own. */
  readonly headers?: StompHeaders;
  /** Resume from a position the application kept (e.g. across a page reload) instead of starting live. */
  readonly from?: StreamPosition;
  /** As {@link ResumeOptions.onSubscribed}, for this subscription only (after the helper-wide one). */
  readonly onSubscribed?: (subscription: ResumableSubscription, outcome: SubscribeOutcome) => void;
  /** As {@link ResumeOptions.onNotRecovered}, for this subscription only (after the helper-wide one). */
  readonly onNotRecovered?: (subscription: ResumableSubscription, position: StreamPosition) => void;
}

/** A subscription the helper makes again on every reconnect. */
export interface ResumableSubscription {
  readonly id: string;
  readonly destination: string;
  /** The last message's epoch and offset (or the RECEIPT's); undefined while unknown or without history. */
  readonly position: StreamPosition | undefined;
  /** Unsubscribes (if connected) and stops making it again. */
  unsubscribe(headers?: StompHeaders): void;
}

type ConnectCallback = (frame: IFrame) => void;

interface Entry {
  readonly id: string;
  readonly destination: string;
  readonly callback: messageCallbackType;
  readonly headers: StompHeaders;
  readonly options: SubscribeOptions;
  position: StreamPosition | undefined;
  /** Counts SUBSCRIBEs sent, so one attempt reports a failed resume once. */
  attempt: number;
  /** A message reached the application during this attempt (its position beats the RECEIPT's). */
  deliveredThisAttempt: boolean;
  notifiedAttempt: number;
  closed: boolean;
  /** The message-ids of the last RECENT_IDS messages delivered, oldest first; made on first use. */
  recent: Set<string> | undefined;
  readonly handle: ResumableSubscription;
}

/**
 * Message-ids remembered per subscription. A message sent again under its message-id (its sender
 * got no RECEIPT) after the stream moved on by more than its history kept, or whose first append a
 * Redis failover lost, gets a new offset: the id, not the offset, shows it is a copy.
 */
const RECENT_IDS = 1000;

let instances = 0;

/**
 * Resume after reconnect for @stomp/stompjs, with stomp-relay's history extension: every
 * subscription made through it is made again on each reconnect (STOMP.js forgets them) with
 * `x-resume-epoch` / `x-resume-offset` of the last message it delivered, so the server replays
 * what was missed, in order. Copies it has seen already (offset at or below the last, or a
 * message-id among the last 1,000) are dropped, unless the server flags them `redelivered` (NACK,
 * or unacknowledged in `client` ack modes).
 * When the server cannot replay, `onNotRecovered` tells the application to reload.
 *
 * It takes over `client.onConnect` (the application's own callback still runs, after the
 * subscriptions were sent) and uses the `receipt` header of its SUBSCRIBE frames. Destinations
 * without history behave as plain subscriptions that are made again on reconnect.
 *
 * ```ts
 * const resume = new StompResume(client, { onNotRecovered: (sub) => reload(sub.destination) });
 * resume.subscribe('/topic/docs/42', (message) => apply(message));
 * client.activate();
 * ```
 */
export class StompResume {
  readonly #client: Client;
  readonly #options: ResumeOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #prefix = `resume-${++instances}-`;
  #appOnConnect: ConnectCallback;
  #seq = 0;

  constructor(client: Client, options: ResumeOptions = {}) {
    this.#client = client;
    this.#options = options;
    this.#appOnConnect = client.onConnect;
    const onConnect: ConnectCallback = (frame) => {
      for (const entry of this.#entries.values()) this.#send(entry);
      this.#appOnConnect(frame);
    };
    // An accessor, so that an application setting client.onConnect later (or configure()) sets its
    // own callback instead of removing the helper's.
    Object.defineProperty(client, 'onConnect', {
      configurable: true,
      enumerable: true,
      get: () => onConnect,
      set: (fn: ConnectCallback) => {
        this.#appOnConnect = fn;
      },
    });
  }

  /** Subscribes now when connected, and again after every reconnect, resuming where it left off. */
  subscribe(destination: string, callback: messageCallbackType, options: SubscribeOptions = {}): ResumableSubscription {
    const headers = { ...options.headers };
    const id = headers.id ?? `${this.#prefix}${++this.#seq}`;
    if (this.#entries.has(id)) throw new Error(`a subscription with id ${id} exists already`);
    const entry: Entry = {
      id,
      destination,
      callback,
      headers,
      options,
      position: options.from,
      attempt: 0,
      deliveredThisAttempt: false,
      notifiedAttempt: 0,
      closed: false,
      recent: undefined,
      handle: {
        id,
        destination,
        get position() {
          return entry.position;
        },
        unsubscribe: (unsubscribeHeaders) => this.#unsubscribe(entry, unsubscribeHeaders),
      },
    };
    this.#entries.set(id, entry);
    if (this.#client.connected) this.#send(entry);
    return entry.handle;
  }

  /** Unsubscribes everything and gives `client.onConnect` back to the application. */
  close(): void {
    for (const entry of [...this.#entries.values()]) this.#unsubscribe(entry);
    const appOnConnect = this.#appOnConnect;
    Object.defineProperty(this.#client, 'onConnect', {
      configurable: true,
      enumerable: true,
      writable: true,
      value: appOnConnect,
    });
  }

  #send(entry: Entry): void {
    entry.attempt++;
    entry.deliveredThisAttempt = false;
    const attempt = entry.attempt;
    const receipt = `${entry.id}-r${attempt}`;
    const headers: StompHeaders = { ...entry.headers, id: entry.id, receipt };
    const from = entry.position;
    if (from !== undefined) {
      headers[RESUME_HEADERS.resumeEpoch] = from.epoch;
      headers[RESUME_HEADERS.resumeOffset] = String(from.offset);
    }
    this.#client.watchForReceipt(receipt, (frame) => this.#confirmed(entry, attempt, frame, from !== undefined));
    this.#client.subscribe(entry.destination, (message) => this.#received(entry, message), headers);
  }

  #received(entry: Entry, message: IMessage): void {
    if (entry.closed) return;
    const epoch = message.headers[RESUME_HEADERS.epoch];
    const offset = decimal(message.headers[RESUME_HEADERS.offset]);
    if (epoch === undefined || offset === undefined) {
      entry.callback(message);
      return;
    }
    const at = entry.position;
    if (at !== undefined && at.epoch === epoch && offset <= at.offset) {
      // A redelivery the server means (after NACK, or unacknowledged when a session ended) goes
      // to the application, flagged `redelivered`; it does not move the position back.
      if (message.headers.redelivered === 'true') {
        entry.callback(message);
        return;
      }
      // A copy of a message delivered already. Acknowledge it so the server does not keep it as
      // unacknowledged; not in `client` mode, where an ACK also covers every message before it.
      if (entry.headers.ack === 'client-individual') message.ack();
      return;
    }
    if (at !== undefined && at.epoch !== epoch) this.#notRecovered(entry, { epoch, offset });
    entry.position = { epoch, offset };
    entry.deliveredThisAttempt = true;
    if (!remember(entry, message.headers['message-id'])) {
      if (entry.headers.ack === 'client-individual') message.ack();
      return;
    }
    entry.callback(message);
  }

  #confirmed(entry: Entry, attempt: number, frame: IFrame, resumed: boolean): void {
    if (entry.closed || attempt !== entry.attempt) return;
    const epoch = frame.headers[RESUME_HEADERS.epoch];
    const offset = decimal(frame.headers[RESUME_HEADERS.offset]);
    if (epoch === undefined || offset === undefined) {
      // No history for this destination (or an older server): a plain subscription.
      this.#subscribed(entry, { recovered: undefined, position: undefined });
      return;
    }
    const at = entry.position;
    // Messages delivered before the RECEIPT are at least as recent as the position it names.
    if (at === undefined || !entry.deliveredThisAttempt) entry.position = { epoch, offset };
    else if (at.epoch === epoch && offset > at.offset) entry.position = { epoch, offset };
    const recovered = resumed ? frame.headers[RESUME_HEADERS.recovered] === 'true' : undefined;
    if (recovered === false) this.#notRecovered(entry, entry.position ?? { epoch, offset });
    this.#subscribed(entry, { recovered, position: entry.position });
  }

  #subscribed(entry: Entry, outcome: SubscribeOutcome): void {
    this.#options.onSubscribed?.(entry.handle, outcome);
    entry.options.onSubscribed?.(entry.handle, outcome);
  }

  #notRecovered(entry: Entry, position: StreamPosition): void {
    if (entry.notifiedAttempt === entry.attempt) return;
    entry.notifiedAttempt = entry.attempt;
    this.#options.onNotRecovered?.(entry.handle, position);
    entry.options.onNotRecovered?.(entry.handle, position);
  }

  #unsubscribe(entry: Entry, headers?: StompHeaders): void {
    if (entry.closed) return;
    entry.closed = true;
    this.#entries.delete(entry.id);
    if (this.#client.connected) this.#client.unsubscribe(entry.id, headers);
  }
}

/** Records a delivered message-id; false when it was among the last RECENT_IDS (a copy under a new offset). */
function remember(entry: Entry, id: string | undefined): boolean {
  if (id === undefined) return true;
  const recent = (entry.recent ??= new Set());
  if (recent.has(id)) return false;
  recent.add(id);
  if (recent.size > RECENT_IDS) recent.delete(recent.values().next().value as string);
  return true;
}

/** A non-negative decimal integer header, or undefined. */
function decimal(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}
