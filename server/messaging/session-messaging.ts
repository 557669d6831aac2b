import { header, type Frame, type HeaderList } from '../../protocol/index.js';
import type { PolicyAction } from '../auth/policy.js';
import { DestinationPatternError } from '../destinations/destination-pattern.js';
import {
  docOfSubscription,
  invalidDestinationReason,
  parseSendDestination,
  parseSubscribeDestination,
  type SendTarget,
  userSubscriptionOf,
} from '../destinations/destinations.js';
import { RelayError } from '../errors.js';
import { resumePosition, streamReceiptHeaders } from '../history/node-history.js';
import type { SessionId, UserId } from '../ids.js';
import type { MessagePosition, RelayMessage } from '../relay/relay-message.js';
import { runMessageHandler, runSubscribeHandler } from './app-handlers.js';
import { docOf, docsOf, joinDoc, leaveDoc, subscriptionsTo } from './doc-memberships.js';
import { InboxReplay, replaysInbox, type ReplayTarget } from './inbox-replay.js';
import { addTailHeaders, lastBinary, sharedTail } from './message-tail.js';
import { type MessagingDeps, type SessionLink } from './messaging-deps.js';
import { notAccepted, outgoing, required } from './send-frames.js';
import { SessionAcks } from './session-acks.js';
import { subscriptionStrings } from './string-pool.js';
import {
  LocalSubscriptions,
  subscriptionSerial,
  type AckMode,
  type SessionHandle,
  type Subscription,
} from './subscriptions.js';
import { Transactions } from './transactions.js';

const ACK_MODES: readonly AckMode[] = ['auto', 'client', 'client-individual'];
/** SEND destinations whose check a session keeps (see sendTarget). */
const MAX_KNOWN_SEND_TARGETS = 64;

/**
 * One session's STOMP semantics after CONNECT: SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN,
 * COMMIT, ABORT. `handle` runs the synchronous part of a frame at once, in arrival order, and
 * returns a promise that resolves when the frame's effect is done (its RECEIPT may go then).
 */
export class SessionMessaging implements SessionHandle, ReplayTarget {
  readonly id: SessionId;
  readonly user: UserId;
  // Collections are made on first use (an empty Map costs ~170 bytes; most sessions are idle). The
  // subscriptions are replaced, not changed: an array of exactly its length, a fixed list to loop.
  private subs: readonly Subscription[] = NO_SUBSCRIPTIONS;
  private _acks: SessionAcks | undefined;
  private _transactions: Transactions | undefined;
  private _inbox: InboxReplay | undefined;
  private _sendTargets: Map<string, SendTarget> | undefined;
  private closed = false;

  constructor(
    private readonly deps: MessagingDeps,
    private readonly link: SessionLink,
  ) {
    this.id = link.id;
    this.user = link.user;
  }

  get subscriptions(): readonly Subscription[] {
    return this.subs;
  }

  private subscription(id: string): Subscription | undefined {
    return this.subs.find((sub) => sub.id === id);
  }
  private get acks(): SessionAcks {
    return (this._acks ??= new SessionAcks(this.deps, this.user, this));
  }
  private get transactions(): Transactions {
    return (this._transactions ??= new Transactions(this.deps.limits.maxTransactionFrames));
  }
  private get inbox(): InboxReplay {
    return (this._inbox ??= new InboxReplay(this.deps, this.user, this));
  }
  private get sendTargets(): Map<string, SendTarget> {
    return (this._sendTargets ??= new Map());
  }

  /** Resolves with headers the frame's RECEIPT carries besides `receipt-id` (a SUBSCRIBE to a stream), if any. */
  handle(frame: Frame): Promise<HeaderList | void> {
    switch (frame.command) {
      case 'SEND': {
        // Checked before a transaction takes it: a SEND that can go nowhere is refused at once.
        const destination = required(frame, 'destination');
        const tx = header(frame, 'transaction');
        if (tx !== undefined) return this.enlist(tx, frame);
        return this.sendTo(frame, destination, this.sendTarget(destination));
      }
      case 'ACK':
      case 'NACK': {
        const tx = header(frame, 'transaction');
        if (tx !== undefined) return this.enlist(tx, frame);
        return this.ack(frame);
      }
      case 'SUBSCRIBE':
        return this.subscribe(frame);
      case 'UNSUBSCRIBE':
        return this.unsubscribe(required(frame, 'id'));
      case 'BEGIN':
        this.transactions.begin(required(frame, 'transaction'));
        return DONE;
      case 'COMMIT':
        return this.commit(required(frame, 'transaction'));
      case 'ABORT':
        this.transactions.take(required(frame, 'transaction'));
        return DONE;
      default:
        throw new RelayError('STOMP_PROTOCOL', `unexpected ${frame.command} frame`);
    }
  }

  /** The destination policy, as Spring Security's inbound interceptor: a denial is an ERROR (SPEC §7). */
  private authorize(action: PolicyAction, destination: string): void {
    const decision = this.deps.policy.check(action, this.link.principal, destination);
    if (!decision.allowed) {
      const shown = destination.length > 200 ? `${destination.slice(0, 200)}...` : destination;
      throw new RelayError(
        'FORBIDDEN',
        `${action === 'send' ? 'SEND to' : 'SUBSCRIBE to'} ${shown} is not allowed: ${decision.reason}`,
      );
    }
  }

  // ---- SEND -------------------------------------------------------------------------------

  /**
   * Checks a SEND (destination, policy) and returns its effect, to run later. Throwing here has
   * no effect yet: COMMIT checks every frame of a transaction before any of them takes effect.
   */
  private prepareSend(frame: Frame): () => Promise<void> {
    const destination = required(frame, 'destination');
    const target = this.sendTarget(destination);
    return () => this.sendTo(frame, destination, target);
  }

  /** The effect of a checked SEND; resolves when the relay accepted it (its RECEIPT may go). */
  private sendTo(frame: Frame, destination: string, target: SendTarget): Promise<void> {
    switch (target.kind) {
      case 'broker':
        return this.deps.router.broadcast(outgoing(frame, target.destination)).then(undefined, notAccepted);
      case 'user':
        return this.deps.router.sendToUser(target.user, outgoing(frame, target.destination)).then(ignore, notAccepted);
      case 'app':
        return runMessageHandler(this.deps, this.link, destination, target.path, frame);
      case 'none':
        this.deps.log.debug({ destination }, 'SEND to a destination with no prefix dropped');
        return DONE;
    }
  }

  /**
   * Checks and parses a SEND destination (validity, policy). A session usually sends to a few
   * destinations many times, so the answer is kept per session (bounded); refusals are not kept:
   * they end the session.
   */
  private sendTarget(destination: string): SendTarget {
    const known = this._sendTargets?.get(destination);
    if (known) return known;
    const invalid = invalidDestinationReason(destination);
    if (invalid) throw new RelayError('INVALID_DESTINATION', `invalid destination: ${invalid}`);
    const target = parseSendDestination(destination);
    if (target.kind !== 'none') this.authorize('send', destination);
    if (this.sendTargets.size >= MAX_KNOWN_SEND_TARGETS) this.sendTargets.clear();
    this.sendTargets.set(destination, target);
    return target;
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------

  private async subscribe(frame: Frame): Promise<HeaderList | undefined> {
    // Both required by STOMP: refused with an ERROR (Spring ignores such a frame, and its RECEIPT
    // would tell the client it subscribed). A second SUBSCRIBE with an id in use is ignored, as Spring.
    // Pooled: kept for the subscription's life, and equal across sessions (string-pool.ts).
    const destination = subscriptionStrings.intern(required(frame, 'destination'));
    const id = subscriptionStrings.intern(required(frame, 'id'));
    const resume = resumePosition(frame.headers);
    if (this.subscription(id)) {
      this.deps.log.debug({ id, destination }, 'SUBSCRIBE with an id in use ignored');
      return;
    }
    const invalid = invalidDestinationReason(destination);
    if (invalid) throw new RelayError('INVALID_DESTINATION', `invalid destination: ${invalid}`);
    const target = parseSubscribeDestination(destination);
    if (target.kind !== 'none') this.authorize('subscribe', destination);
    if (target.kind === 'app') {
      await runSubscribeHandler(this.deps, this.link, id, destination, target.path, frame);
      return;
    }
    if (target.kind === 'none') return;
    if (this.subs.length >= this.deps.limits.maxSubscriptionsPerSession) {
      throw new RelayError(
        'TOO_MANY_SUBSCRIPTIONS',
        `a session may hold at most ${this.deps.limits.maxSubscriptionsPerSession} subscriptions`,
      );
    }
    // The shared constant, not the header's own string: one fewer string per subscription.
    const ackHeader = header(frame, 'ack');
    const ackMode: AckMode = ACK_MODES.find((mode) => mode === ackHeader) ?? 'auto';
    const matches = matcherOrError(destination);
    // A destination with history: its messages go through the stream, in offset order, each once.
    const stream = this.deps.history?.open(
      destination,
      this.user,
      (msg, position) => this.write(sub, msg, position),
      () => this.inbox.takeCopies(sub),
    );
    const sub: Subscription = {
      id,
      serial: subscriptionSerial(),
      session: this,
      destination,
      kind: target.kind,
      ackMode,
      matches,
      stream,
    };
    this.subs = this.subs.concat(sub);
    // Replay what was kept for this destination before anything live reaches the subscription.
    const replays = replaysInbox(sub);
    if (replays && !stream) this.inbox.hold(sub);
    this.deps.subscriptions.add(sub);
    this.deps.metrics.subscriptions.inc();
    const bound = sub.kind === 'broker' ? this.deps.bindings.settled(destination) : undefined;
    const doc = docOfSubscription(destination);
    const joined =
      doc !== undefined && subscriptionsTo(doc, this.subs) === 1
        ? joinDoc(this.deps, this.user, this.id, doc)
        : undefined;
    // The inbox (or history) is read once the destination is bound and the registry has the join:
    // a sender that found the user in no document before that, and stored, finds it in its nudge
    // (SPEC §5). Read in parallel, the take could reach Redis before the join.
    const first = [bound, joined].filter((p) => p !== undefined);
    const whenReady = <T>(run: () => Promise<T>): Promise<T> =>
      first.length > 0 ? Promise.all(first).then(run) : run();
    const work: Promise<unknown>[] = [...first];
    const started = stream ? whenReady(() => this.inbox.startStream(sub, stream, resume)) : undefined;
    if (started) work.push(started);
    else if (replays) work.push(whenReady(() => this.inbox.replay(sub)));
    const failed = (await Promise.allSettled(work)).find((r) => r.status === 'rejected');
    if (this._inbox?.isIdle() === true) this._inbox = undefined; // made again by the next replay
    if (failed) {
      // No RECEIPT: the subscription is undone before the ERROR tells the client.
      await this.unsubscribe(id).catch((err: unknown) =>
        this.deps.log.warn({ err: String(err), id }, 'undoing a failed SUBSCRIBE failed'),
      );
      const boundFailed =
        bound !== undefined &&
        (await bound.then(
          () => false,
          () => true,
        ));
      if (boundFailed)
        throw new RelayError(
          'SUBSCRIBE_FAILED',
          `the broker could not bind ${destination}; subscribe again later`,
          true,
          { cause: failed.reason },
        );
      throw failed.reason;
    }
    return started ? streamReceiptHeaders(await started) : undefined;
  }

  replayStored(subscription?: string): void {
    for (const sub of this.subs) {
      if ((subscription !== undefined && sub.destination !== subscription) || !replaysInbox(sub)) continue;
      this.inbox.nudge(sub);
    }
  }

  private async unsubscribe(id: string): Promise<void> {
    const sub = this.subscription(id);
    if (!sub) return; // Spring ignores an unknown id
    this.subs = this.subs.filter((s) => s !== sub);
    this._inbox?.forget(sub);
    sub.stream?.close();
    this.deps.subscriptions.remove(sub);
    this.deps.metrics.subscriptions.dec();
    const work: Promise<unknown>[] = this._acks ? [this._acks.keepUnacked(sub)] : [];
    const doc = docOf(sub);
    if (doc !== undefined && subscriptionsTo(doc, this.subs) === 0)
      work.push(leaveDoc(this.deps, this.user, this.id, doc));
    if (sub.kind === 'broker') work.push(this.deps.bindings.settled(sub.destination));
    await Promise.all(work);
  }

  // ---- delivery ---------------------------------------------------------------------------

  deliver(sub: Subscription, msg: RelayMessage): boolean {
    if (this.closed || !this.subs.includes(sub)) return false;
    if (sub.stream && msg.position) {
      sub.stream.offer(msg, msg.position.epoch, msg.position.offset);
      return true;
    }
    const held = this._inbox?.held(sub);
    if (held) {
      held.push(msg);
      return true;
    }
    return this.write(sub, msg, undefined);
  }

  /** ReplayTarget: what the inbox kept, written as it is taken. */
  writeReplayed(sub: Subscription, msg: RelayMessage, position: MessagePosition | undefined): void {
    this.write(sub, msg, position);
  }

  /** ReplayTarget: the subscription is still this session's (not unsubscribed, session open). */
  isCurrent(sub: Subscription): boolean {
    return this.subs.includes(sub);
  }

  /** Writes one MESSAGE; `position` (a stream subscription's) goes out as `x-epoch` / `x-offset`. */
  private write(sub: Subscription, msg: RelayMessage, position: MessagePosition | undefined): boolean {
    if (this.closed) return false;
    const headers: [string, string][] = [
      ['destination', sub.kind === 'user' ? userSubscriptionOf(msg.destination) : msg.destination],
      ['subscription', sub.id],
      ['message-id', msg.id],
    ];
    if (position !== undefined) headers.push(['x-epoch', position.epoch], ['x-offset', String(position.offset)]);
    if (sub.ackMode !== 'auto') {
      const ackId = this.acks.track(sub, msg);
      if (ackId instanceof RelayError) {
        this.link.fail(ackId);
        return false;
      }
      if (this.link.version === '1.2') headers.push(['ack', ackId]);
    }
    this.deps.metrics.deliveries.inc();
    const tail = sharedTail(msg, this.link.version);
    if (tail !== undefined) return this.link.writeMessage(headers, tail);
    addTailHeaders(headers, msg);
    return this.link.write({ command: 'MESSAGE', headers, body: msg.body }, lastBinary(msg));
  }

  // ---- ACK / NACK -------------------------------------------------------------------------

  private ack(frame: Frame): Promise<void> {
    return this.acks.prepare(frame, this.link.version)();
  }

  // ---- transactions -----------------------------------------------------------------------

  private enlist(tx: string, frame: Frame): Promise<void> {
    this.transactions.enlist(tx, frame);
    return DONE;
  }

  /**
   * The transaction's frames take effect now, in the order they were sent — all of them, or, if
   * any is refused (policy, invalid destination, missing header), none.
   */
  private async commit(tx: string): Promise<void> {
    const frames = this.transactions.take(tx);
    const effects = frames.map((f) =>
      f.command === 'SEND' ? this.prepareSend(f) : this.acks.prepare(f, this.link.version),
    );
    // Every effect runs, even if one throws at once: the checks above already passed for all.
    await Promise.all(effects.map((run) => Promise.resolve().then(run)));
  }

  // ---- close ------------------------------------------------------------------------------

  /** The socket is gone: forget the session everywhere, keep its unacknowledged messages. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this._transactions?.clear();
    const work: Promise<unknown>[] = this._acks ? [this._acks.keepUnacked()] : [];
    const docs = docsOf(this.subs);
    for (const sub of this.subs) {
      sub.stream?.close();
      this.deps.subscriptions.remove(sub);
      this.deps.metrics.subscriptions.dec();
    }
    this.subs = NO_SUBSCRIPTIONS;
    this._inbox?.clear();
    for (const doc of docs) work.push(leaveDoc(this.deps, this.user, this.id, doc));
    this.deps.subscriptions.removeSession(this);
    work.push(this.deps.registry.removeSession(this.user, this.id));
    this.deps.metrics.sessions.dec();
    await Promise.all(work);
    this.deps.router.forget(this.user);
  }
}

/** A pattern the matcher refuses (too long, unbalanced braces, a dangerous regex) is the client's error. */
function matcherOrError(destination: string): Subscription['matches'] {
  try {
    return LocalSubscriptions.matcherFor(destination);
  } catch (err) {
    if (err instanceof DestinationPatternError)
      throw new RelayError('INVALID_DESTINATION', `invalid destination pattern: ${err.message}`);
    throw err;
  }
}

function ignore(): void {}

const DONE: Promise<void> = Promise.resolve();
const NO_SUBSCRIPTIONS: readonly Subscription[] = [];
