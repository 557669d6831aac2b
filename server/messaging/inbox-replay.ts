import type { StreamPosition } from '../history/history.js';
import type { StreamCopy, StreamStart, SubscriptionStream } from '../history/subscription-stream.js';
import type { UserId } from '../ids.js';
import type { MessagePosition, RelayMessage } from '../relay/relay-message.js';
import type { MessagingDeps } from './messaging-deps.js';
import type { Subscription } from './subscriptions.js';

/** The session an InboxReplay takes the inbox for (its own methods: no closures kept per session). */
export interface ReplayTarget {
  /** Writes one message on a subscription, with the position its MESSAGE carries (a stream's). */
  writeReplayed(sub: Subscription, msg: RelayMessage, position: MessagePosition | undefined): void;
  /** Whether the subscription is still the session's (not unsubscribed, session open). */
  isCurrent(sub: Subscription): boolean;
}

/** User destinations and queues keep messages for their user; topics do not. */
export function replaysInbox(sub: Subscription): boolean {
  return sub.kind === 'user' || sub.destination.startsWith('/queue/');
}

/**
 * A session's side of the offline inbox (SPEC §3): a new subscription gets what was kept for its
 * destination before anything live, in order; a nudge (a message stored while the user was
 * between nodes) takes what arrived since. A stream subscription (SPEC §11) hands its inbox to the
 * stream's gate instead, so a message in both the inbox and the history is written once.
 */
export class InboxReplay {
  // Both exist only while a replay runs, which is rare for an idle session (see Members).
  /** Live deliveries held back while a subscription replays (keeps order). */
  private holding: Map<Subscription, RelayMessage[]> | undefined;
  /** Subscriptions nudged while their take ran: it may have missed the nudged message. */
  private again: Set<Subscription> | undefined;

  constructor(
    private readonly deps: Pick<MessagingDeps, 'store' | 'metrics' | 'log'>,
    private readonly user: UserId,
    private readonly target: ReplayTarget,
  ) {}

  /** Holds nothing and no replay is running: the session may let it go. */
  isIdle(): boolean {
    return this.holding === undefined && this.again === undefined;
  }

  /** Holds live deliveries to `sub` until its replay has run; call before it can receive any. */
  hold(sub: Subscription): void {
    (this.holding ??= new Map()).set(sub, []);
  }

  /** Where a live message for `sub` waits while its replay runs; undefined: write it now. */
  held(sub: Subscription): RelayMessage[] | undefined {
    return this.holding?.get(sub);
  }

  async replay(sub: Subscription): Promise<void> {
    try {
      do {
        this.again?.delete(sub);
        if (!this.target.isCurrent(sub)) return;
        const stored = await this.deps.store.take(this.user, sub.destination);
        if (!this.target.isCurrent(sub)) {
          // Ended while the take ran (UNSUBSCRIBE, close): what it took waits for the next one.
          for (const msg of stored) await this.deps.store.append(this.user, sub.destination, msg);
          return;
        }
        for (const msg of stored) {
          this.deps.metrics.offlineReplayed.inc();
          this.target.writeReplayed(sub, msg, undefined);
        }
      } while (this.again?.has(sub) === true && this.target.isCurrent(sub));
    } finally {
      const held = this.holding?.get(sub) ?? [];
      this.forget(sub);
      this.again?.delete(sub);
      if (this.again?.size === 0) this.again = undefined;
      for (const msg of held) this.target.writeReplayed(sub, msg, undefined);
    }
  }

  /**
   * Starts a stream subscription: its inbox goes in with the history's replay; one kept before
   * the stream had positions is written first. If the history cannot be read, the inbox taken is
   * put back before the SUBSCRIBE fails.
   */
  async startStream(
    sub: Subscription,
    stream: SubscriptionStream,
    resume: StreamPosition | undefined,
  ): Promise<StreamStart> {
    const copies = await this.takeCopies(sub);
    try {
      return await stream.start(resume, copies);
    } catch (err) {
      for (const c of copies) await this.deps.store.append(this.user, sub.destination, c.msg);
      throw err;
    }
  }

  /** Something was stored for `sub`'s destination: take it now, or again once the running take ends. */
  nudge(sub: Subscription): void {
    if (sub.stream) {
      this.takeIntoStream(sub, sub.stream);
      return;
    }
    if (this.holding?.has(sub) === true) {
      (this.again ??= new Set()).add(sub);
      return;
    }
    this.hold(sub);
    this.replay(sub).catch((err: unknown) =>
      this.deps.log.warn({ err: String(err), sub: sub.id }, 'inbox replay failed'),
    );
  }

  forget(sub: Subscription): void {
    this.holding?.delete(sub);
    if (this.holding?.size === 0) this.holding = undefined;
  }

  clear(): void {
    this.holding = undefined;
  }

  /** What the inbox has goes through the stream's gate, in offset order, each once. */
  private takeIntoStream(sub: Subscription, stream: SubscriptionStream): void {
    this.takeCopies(sub).then(
      (copies) => {
        for (const c of copies) stream.offer(c.msg, c.epoch, c.offset);
      },
      (err: unknown) => this.deps.log.warn({ err: String(err), sub: sub.id }, 'inbox replay failed'),
    );
  }

  /** Takes a stream subscription's inbox (SubscriptionStream's `offline`): the copies with a position; the others are written now. */
  async takeCopies(sub: Subscription): Promise<StreamCopy[]> {
    if (!replaysInbox(sub)) return [];
    const stored = await this.deps.store.take(this.user, sub.destination);
    if (!this.target.isCurrent(sub)) {
      // The subscription ended while the take ran: what it took waits for the user's next one.
      for (const msg of stored) await this.deps.store.append(this.user, sub.destination, msg);
      return [];
    }
    const copies: StreamCopy[] = [];
    for (const msg of stored) {
      this.deps.metrics.offlineReplayed.inc();
      if (msg.position) copies.push({ msg, epoch: msg.position.epoch, offset: msg.position.offset });
      else this.target.writeReplayed(sub, msg, undefined);
    }
    return copies;
  }
}
