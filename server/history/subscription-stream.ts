import type { RelayMessage } from '../relay/relay-message.js';
import type { History, StreamId, StreamPosition } from './history.js';
import { OffsetGate, type GapFill, type GateDropReason, type Sequenced } from './offset-gate.js';

/** How long a copy ahead of a missing offset waits for it before the gap is read from history. */
export const GAP_HOLD_MS = 250;

/** After a failed gap fill, the next try waits this long. */
export const GAP_RETRY_MS = 1_000;

/**
 * A gap whose reads keep failing is given up after this long: a Redis failover takes seconds, and
 * new messages of the stream cannot be accepted meanwhile (their append needs Redis), so what is
 * held stays bounded.
 */
export const GAP_RETRY_FOR_MS = 30_000;

/** What a stream subscription reports, for metrics and logs. */
export interface StreamEvents {
  /** A SUBSCRIBE with `x-resume-*` was answered. */
  resumed?(recovered: boolean): void;
  /** A copy was not delivered: its offset was passed, or it is of an older epoch. */
  dropped?(reason: GateDropReason): void;
  /** A gap was read from history. */
  gapFilled?(): void;
  /** Offsets given up: a gap fill did not find them, or the stream was reset with them missing. */
  skipped?(count: number): void;
  /** A gap fill's read failed; `givenUp`: it kept failing for GAP_RETRY_FOR_MS, and what was held was delivered without it. */
  gapFillFailed?(err: unknown, givenUp: boolean): void;
}

export interface SubscriptionStreamOptions {
  readonly history: History;
  readonly stream: StreamId;
  /**
   * Writes one message to the subscription; the MESSAGE carries `position` as `x-epoch` /
   * `x-offset`. Undefined for an offline message of an earlier epoch: it goes without them.
   */
  readonly write: (msg: RelayMessage, position: StreamPosition | undefined) => void;
  /** Copies held past a gap at most (HISTORY_SIZE: a fill cannot bring back more). */
  readonly maxHeld: number;
  /**
   * Takes the subscription's offline inbox: what it returns goes through the gate; messages
   * without a position it writes itself. Asked when a gap fill finds the history short, before the
   * gap is given up: a message stored while its recipient's node had no queue waits there.
   */
  readonly offline?: () => Promise<readonly StreamCopy[]>;
  /** @default GAP_HOLD_MS */
  readonly holdMs?: number;
  readonly events?: StreamEvents;
  /** Clock in epoch ms. @default Date.now */
  readonly now?: () => number;
}

/** What the RECEIPT of the SUBSCRIBE carries (SPEC §11): `x-epoch`, `x-offset`, and `x-recovered` for a resume. */
export interface StreamStart {
  readonly position: StreamPosition;
  readonly recovered: boolean | undefined;
}

/** A message with the position it was given at acceptance. */
export interface StreamCopy {
  readonly msg: RelayMessage;
  readonly epoch: string;
  readonly offset: number;
}

/**
 * One subscription's side of a stream with history: the offset gate with the timer and the
 * history reads it asks for. The session makes one per subscription whose destination has a
 * stream, hands it every copy that carries an offset (`offer`), calls `start` once, and `close`
 * when the subscription ends; messages come out through `write`, in offset order, each once.
 */
export class SubscriptionStream {
  readonly #options: SubscriptionStreamOptions;
  readonly #gate: OffsetGate<StreamCopy>;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  /** When the gap fills began to fail; undefined while they succeed. */
  #failingSince: number | undefined;
  #closed = false;

  constructor(options: SubscriptionStreamOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#gate = new OffsetGate<StreamCopy>({
      holdMs: options.holdMs ?? GAP_HOLD_MS,
      maxHeld: options.maxHeld,
      onDropped: (reason) => options.events?.dropped?.(reason),
      onSkipped: (count) => options.events?.skipped?.(count),
    });
  }

  /**
   * Reads where the stream stands, or with `resume` the messages after the client's position,
   * and writes, in offset order: the replay, the `offline` messages (the inbox taken for this
   * subscription: a message also replayed goes once, one the client had is not written again),
   * then the copies offered meanwhile. Resolves with what the RECEIPT carries; rejects when the
   * history cannot be read (the SUBSCRIBE fails).
   *
   * Offline messages of an earlier epoch predate the stream's current incarnation: without a
   * successful resume they are written first, without offsets (offline delivery as without
   * history); after one they are not (the client's position is past them).
   */
  async start(resume: StreamPosition | undefined, offline: readonly StreamCopy[]): Promise<StreamStart> {
    const { history, stream } = this.#options;
    let position: StreamPosition;
    let replay: Sequenced<StreamCopy>[] = [];
    let recovered: boolean | undefined;
    if (resume === undefined) {
      position = await history.position(stream);
    } else {
      const recovery = await history.since(stream, resume.epoch, resume.offset);
      position = recovery.position;
      recovered = recovery.recovered;
      if (recovery.recovered)
        replay = recovery.messages.map((e) =>
          sequenced({ msg: e.message, epoch: recovery.position.epoch, offset: e.offset }),
        );
      this.#options.events?.resumed?.(recovery.recovered);
    }
    for (const c of offline) {
      if (c.epoch === position.epoch) {
        if (!recovered || c.offset > (resume?.offset ?? 0)) replay.push(sequenced(c));
      } else if (recovered) {
        this.#options.events?.dropped?.('stale-epoch');
      } else if (!this.#closed) {
        this.#options.write(c.msg, undefined);
      }
    }
    this.#deliver(this.#gate.begin(position, replay));
    return { position: this.#gate.position ?? position, recovered };
  }

  /** A copy of a stream message reached the subscription (live, re-routed, from the inbox). */
  offer(msg: RelayMessage, epoch: string, offset: number): void {
    if (this.#closed) return;
    this.#deliver(this.#gate.offer(epoch, offset, { msg, epoch, offset }, this.#now()));
  }

  /** The subscription ended: nothing more is written, the timer stops. */
  close(): void {
    this.#closed = true;
    this.#stopTimer();
  }

  #deliver(copies: readonly StreamCopy[]): void {
    if (this.#closed) return;
    for (const c of copies) this.#options.write(c.msg, { epoch: c.epoch, offset: c.offset });
    this.#schedule();
  }

  /** Keeps one timer for the gate's next gap fill (none while nothing is held: the usual case costs nothing). */
  #schedule(): void {
    const wakeAt = this.#closed ? undefined : this.#gate.wakeAt;
    if (wakeAt === this.#timerAt) return;
    this.#stopTimer();
    if (wakeAt === undefined) return;
    this.#timerAt = wakeAt;
    this.#timer = setTimeout(() => this.#fill(), Math.max(0, wakeAt - this.#now()));
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
  }

  #fill(): void {
    this.#timer = undefined;
    this.#timerAt = undefined;
    const fill = this.#gate.gapFill(this.#now());
    if (fill === undefined) {
      this.#schedule();
      return;
    }
    this.#read(fill).then(
      ({ entries, later }) => {
        this.#failingSince = undefined;
        this.#options.events?.gapFilled?.();
        this.#deliver(this.#gate.filled(fill, entries));
        for (const c of later) this.offer(c.msg, c.epoch, c.offset);
      },
      (err: unknown) => {
        const now = this.#now();
        this.#failingSince ??= now;
        const givenUp = now - this.#failingSince >= GAP_RETRY_FOR_MS;
        this.#options.events?.gapFillFailed?.(err, givenUp);
        if (givenUp) {
          this.#failingSince = undefined;
          this.#deliver(this.#gate.filled(fill, []));
        } else {
          // Held, not given up: the messages are in history, just unreadable for now.
          this.#gate.unfilled(fill, now + GAP_RETRY_MS);
          this.#schedule();
        }
      },
    );
  }

  /** The gap's offsets from history and, when it no longer has them all, from the offline inbox (`later`: the inbox's other copies). */
  async #read(fill: GapFill): Promise<{ entries: Sequenced<StreamCopy>[]; later: StreamCopy[] }> {
    const { history, stream, offline } = this.#options;
    const read = await history.range(stream, fill.epoch, fill.from, fill.to);
    const entries = read.map((e) => sequenced({ msg: e.message, epoch: fill.epoch, offset: e.offset }));
    const later: StreamCopy[] = [];
    if (offline === undefined || entries.length > fill.to - fill.from) return { entries, later };
    const stored = await offline().catch(() => []); // an unreadable inbox keeps its messages for the next take
    for (const c of stored) {
      if (c.epoch === fill.epoch && c.offset <= fill.to) entries.push(sequenced(c));
      else later.push(c);
    }
    return { entries, later };
  }
}

function sequenced(copy: StreamCopy): Sequenced<StreamCopy> {
  return { offset: copy.offset, item: copy };
}
