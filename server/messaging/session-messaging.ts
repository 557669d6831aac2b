import { encodeTail, header, type Frame, type HeaderList, type StompVersion } from '../../protocol/index.js';
import type { PolicyAction } from '../auth/policy.js';
import type { MessagePosition, RelayMessage } from '../relay/relay-message.js';
import { resumePosition, streamReceiptHeaders } from '../history/node-history.js';
import type { StreamPosition } from '../history/history.js';
import type { StreamCopy, StreamStart, SubscriptionStream } from '../history/subscription-stream.js';
import { DestinationPatternError } from '../destinations/destination-pattern.js';
import { RelayError } from '../errors.js';
import type { DocId, SessionId, UserId } from '../ids.js';
import { AckTracker, type Unacked } from './acks.js';
import { MessageRejection, type HandlerContext, type InboundMessage } from './app-router.js';
import {
  docOfSubscription,
  invalidDestinationReason,
  parseSendDestination,
  parseSubscribeDestination,
  type SendTarget,
  userSubscriptionOf,
} from '../destinations/destinations.js';
import { travelsBinary, type MessageTail, type MessagingDeps, type SessionLink } from './messaging.js';
import { toBody, type Payload } from './payload.js';
import type { OutgoingMessage } from '../relay/router.js';
import { LocalSubscriptions, type AckMode, type SessionHandle, type Subscription } from './subscriptions.js';

/** Headers of a SEND that describe the frame itself, not the message; never copied into MESSAGE. */
const FRAME_HEADERS = new Set(['destination', 'content-length', 'receipt', 'transaction', 'subscription', 'ack', 'message-id', 'redelivered']);
const ACK_MODES: readonly AckMode[] = ['auto', 'client', 'client-individual'];
/** SEND destinations whose check a session keeps (see sendTarget). */
const MAX_KNOWN_SEND_TARGETS = 64;
/** A NACKed message is delivered again this many times, then dead-lettered. */
const MAX_REDELIVERIES = 3;

function required(frame: Frame, name: string): string {
  const value = header(frame, name);
  if (value === undefined) throw new RelayError('MISSING_HEADER', `${frame.command} frame needs a '${name}' header`);
  return value;
}

/**
 * One session's STOMP semantics after CONNECT: SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN,
 * COMMIT, ABORT. `handle` runs the synchronous part of a frame at once, in arrival order, and
 * returns a promise that resolves when the frame's effect is done (its RECEIPT may go then).
 */
export class SessionMessaging implements SessionHandle {
  readonly id: SessionId;
  readonly user: UserId;
  // Every collection is made on first use: most sessions are idle most of the time, and an empty
  // Map costs ~170 bytes (issue 7: connection cost). Reads on the hot path use the `_` fields.
  private _subs: Map<string, Subscription> | undefined;
  private _docs: Map<DocId, number> | undefined;
  private _acks: AckTracker | undefined;
  private _transactions: Map<string, Frame[]> | undefined;
  /** Live deliveries held back while a new subscription replays its offline messages (keeps order). */
  private _replaying: Map<Subscription, RelayMessage[]> | undefined;
  private _nacks: Map<string, number> | undefined;
  private _replayAgain: Set<Subscription> | undefined;
  private _sendTargets: Map<string, SendTarget> | undefined;
  private _recent: RecentIds | undefined;
  private closed = false;

  constructor(
    private readonly deps: MessagingDeps,
    private readonly link: SessionLink,
  ) {
    this.id = link.id;
    this.user = link.user;
  }

  private get subs(): Map<string, Subscription> {
    return (this._subs ??= new Map());
  }
  private get docs(): Map<DocId, number> {
    return (this._docs ??= new Map());
  }
  private get acks(): AckTracker {
    return (this._acks ??= new AckTracker());
  }
  private get transactions(): Map<string, Frame[]> {
    return (this._transactions ??= new Map());
  }
  private get replaying(): Map<Subscription, RelayMessage[]> {
    return (this._replaying ??= new Map());
  }
  private get nacks(): Map<string, number> {
    return (this._nacks ??= new Map());
  }
  private get replayAgain(): Set<Subscription> {
    return (this._replayAgain ??= new Set());
  }
  private get sendTargets(): Map<string, SendTarget> {
    return (this._sendTargets ??= new Map());
  }
  private get recent(): RecentIds {
    return (this._recent ??= new RecentIds(256));
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
        return this.begin(required(frame, 'transaction'));
      case 'COMMIT':
        return this.commit(required(frame, 'transaction'));
      case 'ABORT':
        this.takeTransaction(required(frame, 'transaction'));
        return Promise.resolve();
      default:
        throw new RelayError('STOMP_PROTOCOL', `unexpected ${frame.command} frame`);
    }
  }

  /** The destination policy, as Spring Security's inbound interceptor: a denial is an ERROR (SPEC §7). */
  private authorize(action: PolicyAction, destination: string): void {
    const decision = this.deps.policy.check(action, this.link.principal, destination);
    if (!decision.allowed) {
      const shown = destination.length > 200 ? `${destination.slice(0, 200)}...` : destination;
      throw new RelayError('FORBIDDEN', `${action === 'send' ? 'SEND to' : 'SUBSCRIBE to'} ${shown} is not allowed: ${decision.reason}`);
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
        return this.runHandler(destination, target.path, frame);
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

  private async runHandler(destination: string, path: string, frame: Frame): Promise<void> {
    const found = this.deps.app.findMessage(path);
    if (!found) {
      await this.replyError(destination, `no handler for ${destination}`);
      return;
    }
    try {
      const result = await found.handler(this.context(destination, path, found.vars, frame));
      // Spring's default @SendTo: a return value goes to /topic + the lookup path.
      if (result !== undefined) await this.deps.template.convertAndSend(`/topic${path}`, result);
    } catch (err) {
      if (!(err instanceof MessageRejection)) this.deps.log.error({ err, destination }, 'handler failed');
      await this.replyError(destination, err instanceof MessageRejection ? err.message : 'the handler failed');
    }
  }

  private context(destination: string, path: string, vars: Record<string, string>, frame: Frame): HandlerContext {
    const message: InboundMessage = {
      destination,
      path,
      vars,
      headers: frame.headers,
      body: frame.body,
      user: this.user,
      principal: this.link.principal,
      sessionId: this.id,
    };
    return {
      message,
      template: this.deps.template,
      sendToUser: async (dest, payload, headers) => {
        await this.deps.template.convertAndSendToUser(this.user, dest, payload, headers);
      },
    };
  }

  /** Spring's @MessageExceptionHandler + @SendToUser("/queue/errors") habit, to this session only. */
  private async replyError(destination: string, message: string): Promise<void> {
    await this.deps.template.convertAndSendToUser(this.user, '/queue/errors', { error: message, destination }, undefined, {
      sessionId: this.id,
    });
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------

  private async subscribe(frame: Frame): Promise<HeaderList | undefined> {
    // Both required by STOMP: refused with an ERROR (Spring ignores such a frame, and its RECEIPT
    // would tell the client it subscribed). A second SUBSCRIBE with an id in use is ignored, as Spring.
    const destination = required(frame, 'destination');
    const id = required(frame, 'id');
    const resume = resumePosition(frame.headers);
    if (this.subs.has(id)) {
      this.deps.log.debug({ id, destination }, 'SUBSCRIBE with an id in use ignored');
      return;
    }
    const invalid = invalidDestinationReason(destination);
    if (invalid) throw new RelayError('INVALID_DESTINATION', `invalid destination: ${invalid}`);
    const target = parseSubscribeDestination(destination);
    if (target.kind !== 'none') this.authorize('subscribe', destination);
    if (target.kind === 'app') {
      await this.subscribeApp(id, destination, target.path, frame);
      return;
    }
    if (target.kind === 'none') return;
    if (this.subs.size >= this.deps.limits.maxSubscriptionsPerSession) {
      throw new RelayError('TOO_MANY_SUBSCRIPTIONS', `a session may hold at most ${this.deps.limits.maxSubscriptionsPerSession} subscriptions`);
    }
    const ackHeader = header(frame, 'ack') ?? 'auto';
    const ackMode: AckMode = (ACK_MODES as readonly string[]).includes(ackHeader) ? (ackHeader as AckMode) : 'auto';
    const matches = matcherOrError(destination);
    // A destination with history: its messages go through the stream, in offset order, each once.
    const stream = this.deps.history?.open(destination, this.user, (msg, position) => this.write(sub, msg, position));
    const sub: Subscription = { id, session: this, destination, kind: target.kind, ackMode, doc: docOfSubscription(destination), matches, stream };
    this.subs.set(id, sub);
    // Replay what was kept for this destination before anything live reaches the subscription.
    const replays = replaysInbox(sub);
    if (replays && !stream) this.replaying.set(sub, []);
    this.deps.subscriptions.add(sub);
    this.deps.metrics.subscriptions.inc();
    const work: Promise<unknown>[] = [];
    if (sub.kind === 'broker') work.push(this.deps.bindings.settled(destination));
    if (sub.doc !== undefined) work.push(this.joinDoc(sub.doc));
    const started = stream ? this.startStream(sub, stream, resume) : undefined;
    if (started) work.push(started);
    else if (replays) work.push(this.replay(sub));
    await Promise.all(work);
    return started ? streamReceiptHeaders(await started) : undefined;
  }

  /**
   * Starts a stream subscription: its inbox goes in with the replay (a message in both is written
   * once); one kept before the stream had positions is written first. If the history cannot be
   * read, the inbox taken is put back before the SUBSCRIBE fails.
   */
  private async startStream(sub: Subscription, stream: SubscriptionStream, resume: StreamPosition | undefined): Promise<StreamStart> {
    const offline = replaysInbox(sub) ? await this.deps.store.take(this.user, sub.destination) : [];
    const copies: StreamCopy[] = [];
    for (const msg of offline) {
      this.deps.metrics.offlineReplayed.inc();
      if (msg.position) copies.push({ msg, epoch: msg.position.epoch, offset: msg.position.offset });
      else this.write(sub, msg, undefined);
    }
    try {
      return await stream.start(resume, copies);
    } catch (err) {
      for (const c of copies) await this.deps.store.append(this.user, sub.destination, c.msg);
      throw err;
    }
  }

  /** A nudge for a stream subscription: what the inbox has goes through the stream's gate. */
  private takeIntoStream(sub: Subscription, stream: SubscriptionStream): void {
    this.deps.store.take(this.user, sub.destination).then(
      (stored) => {
        for (const msg of stored) {
          this.deps.metrics.offlineReplayed.inc();
          if (msg.position) stream.offer(msg, msg.position.epoch, msg.position.offset);
          else this.write(sub, msg, undefined);
        }
      },
      (err: unknown) => this.deps.log.warn({ err: String(err), sub: sub.id }, 'inbox replay failed'),
    );
  }

  replayStored(subscription?: string): void {
    for (const sub of this.subs.values()) {
      if ((subscription !== undefined && sub.destination !== subscription) || !replaysInbox(sub)) continue;
      if (sub.stream) {
        this.takeIntoStream(sub, sub.stream);
        continue;
      }
      if (this.replaying.has(sub)) {
        this.replayAgain.add(sub); // a take is running; it may have missed this message
        continue;
      }
      this.replaying.set(sub, []);
      this.replay(sub).catch((err: unknown) => this.deps.log.warn({ err: String(err), sub: sub.id }, 'inbox replay failed'));
    }
  }

  private async replay(sub: Subscription): Promise<void> {
    try {
      do {
        this.replayAgain.delete(sub);
        const stored = await this.deps.store.take(this.user, sub.destination);
        for (const msg of stored) {
          this.deps.metrics.offlineReplayed.inc();
          this.write(sub, msg, undefined);
        }
      } while (this.replayAgain.has(sub) && this.subs.get(sub.id) === sub);
    } finally {
      const held = this.replaying.get(sub) ?? [];
      this.replaying.delete(sub);
      for (const msg of held) this.write(sub, msg, undefined);
    }
  }

  private async subscribeApp(id: string, destination: string, path: string, frame: Frame): Promise<void> {
    const found = this.deps.app.findSubscribe(path);
    if (!found) return;
    let payload: Payload;
    try {
      payload = await found.handler(this.context(destination, path, found.vars, frame));
    } catch (err) {
      if (!(err instanceof MessageRejection)) this.deps.log.error({ err, destination }, 'subscribe handler failed');
      await this.replyError(destination, err instanceof MessageRejection ? err.message : 'the handler failed');
      return;
    }
    // @SubscribeMapping: one MESSAGE to this session, addressed to the /app destination.
    const { body, contentType } = toBody(payload);
    const reply: Frame = {
      command: 'MESSAGE',
      headers: [
        ['destination', destination],
        ['subscription', id],
        ['message-id', `${this.id}-app-${id}`],
        ['content-type', contentType],
        ['content-length', String(body.length)],
      ],
      body,
    };
    this.link.write(reply, travelsBinary(contentType, body));
  }

  private async unsubscribe(id: string): Promise<void> {
    const sub = this.subs.get(id);
    if (!sub) return; // Spring ignores an unknown id
    this.subs.delete(id);
    this.replaying.delete(sub);
    sub.stream?.close();
    this.deps.subscriptions.remove(sub);
    this.deps.metrics.subscriptions.dec();
    const work: Promise<unknown>[] = [this.keepUnacked(this.acks.drain(sub))];
    if (sub.doc !== undefined) work.push(this.leaveDoc(sub.doc));
    if (sub.kind === 'broker') work.push(this.deps.bindings.settled(sub.destination));
    await Promise.all(work);
  }

  private async joinDoc(doc: DocId): Promise<void> {
    const n = this.docs.get(doc) ?? 0;
    this.docs.set(doc, n + 1);
    if (n > 0) return;
    await this.deps.registry.joinDoc(doc, this.user, this.id);
    await this.deps.router.announceRoutes(this.user);
    this.announce(doc, 'join');
  }

  private async leaveDoc(doc: DocId): Promise<void> {
    const n = (this.docs.get(doc) ?? 1) - 1;
    if (n > 0) {
      this.docs.set(doc, n);
      return;
    }
    this.docs.delete(doc);
    await this.deps.registry.leaveDoc(doc, this.user, this.id);
    this.deps.router.forget(this.user);
    this.announce(doc, 'leave');
  }

  /** Tells the document's subscribers that its presence changed; `GET /api/docs/{docId}/presence` has the whole list. */
  private announce(doc: DocId, type: 'join' | 'leave'): void {
    const event = { type, userId: this.user, node: this.deps.nodeId, at: new Date().toISOString() };
    this.deps.template.convertAndSend(`/topic/docs/${doc}/presence`, event).catch((err: unknown) => {
      this.deps.log.warn({ err: String(err), doc }, 'presence event not published');
    });
  }

  // ---- delivery ---------------------------------------------------------------------------

  deliver(sub: Subscription, msg: RelayMessage): boolean {
    if (this.closed || this._subs?.get(sub.id) !== sub) return false;
    // At-least-once hops can bring a message twice after a failure: one copy per subscription.
    if (!this.recent.add(`${sub.id}\n${msg.id}`)) {
      this.deps.metrics.duplicatesSuppressed.inc();
      return true;
    }
    if (sub.stream && msg.position) {
      sub.stream.offer(msg, msg.position.epoch, msg.position.offset);
      return true;
    }
    const held = this._replaying?.get(sub);
    if (held) {
      held.push(msg);
      return true;
    }
    return this.write(sub, msg, undefined);
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
      if (this.acks.pendingFor(sub) >= this.deps.limits.maxUnackedPerSubscription) {
        this.link.fail(new RelayError('TOO_MANY_UNACKED', `more than ${this.deps.limits.maxUnackedPerSubscription} unacknowledged messages on subscription ${sub.id}`));
        return false;
      }
      const ackId = this.acks.nextAckId();
      this.acks.add({ ackId, sub, msg });
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
    return this.prepareAck(frame)();
  }

  /** Checks an ACK/NACK's headers now; settling runs later (at once, or at COMMIT). */
  private prepareAck(frame: Frame): () => Promise<void> {
    const ids =
      this.link.version === '1.2'
        ? { ackId: required(frame, 'id') }
        : { messageId: required(frame, 'message-id'), ...optional('subscription', header(frame, 'subscription')) };
    return async () => {
      const entry = this.acks.find(ids);
      if (!entry) return; // already settled, or never ours: nothing to do (Spring ignores ACKs altogether)
      const settled = this.acks.settle(entry);
      if (frame.command === 'ACK') {
        for (const e of settled) this._nacks?.delete(e.msg.id);
        return;
      }
      await Promise.all(settled.map((e) => this.redeliver(e)));
    };
  }

  /** NACK: deliver again on the same subscription, up to MAX_REDELIVERIES, then dead-letter. */
  private async redeliver(entry: Unacked): Promise<void> {
    const attempts = (this.nacks.get(entry.msg.id) ?? 0) + 1;
    if (attempts > MAX_REDELIVERIES || this.subs.get(entry.sub.id) !== entry.sub) {
      this.nacks.delete(entry.msg.id);
      this.deps.metrics.deadLettered.inc();
      this.deps.log.warn({ id: entry.msg.id, destination: entry.sub.destination }, 'message dead-lettered after NACKs');
      return;
    }
    this.nacks.set(entry.msg.id, attempts);
    this.write(entry.sub, { ...entry.msg, redelivered: true }, entry.sub.stream ? entry.msg.position : undefined);
  }

  /** Unacknowledged user and queue messages go to the user's next subscription (SPEC §3). */
  private async keepUnacked(entries: readonly Unacked[]): Promise<void> {
    for (const { sub, msg } of entries) {
      if (sub.kind === 'broker' && !sub.destination.startsWith('/queue/')) continue; // topics are not kept
      await this.deps.store.append(this.user, sub.destination, { ...msg, redelivered: true });
    }
  }

  // ---- transactions -----------------------------------------------------------------------

  private async begin(tx: string): Promise<void> {
    if (this.transactions.has(tx)) throw new RelayError('UNKNOWN_TRANSACTION', `transaction '${tx}' is already open`);
    this.transactions.set(tx, []);
  }

  private enlist(tx: string, frame: Frame): Promise<void> {
    const frames = this.transactions.get(tx);
    if (!frames) throw new RelayError('UNKNOWN_TRANSACTION', `no open transaction '${tx}'`);
    if (frames.length >= this.deps.limits.maxTransactionFrames) {
      throw new RelayError('TRANSACTION_TOO_LARGE', `a transaction may hold at most ${this.deps.limits.maxTransactionFrames} frames`);
    }
    frames.push(frame);
    return Promise.resolve();
  }

  private takeTransaction(tx: string): Frame[] {
    const frames = this.transactions.get(tx);
    if (!frames) throw new RelayError('UNKNOWN_TRANSACTION', `no open transaction '${tx}'`);
    this.transactions.delete(tx);
    return frames;
  }

  /**
   * The transaction's frames take effect now, in the order they were sent — all of them, or, if
   * any is refused (policy, invalid destination, missing header), none.
   */
  private async commit(tx: string): Promise<void> {
    const frames = this.takeTransaction(tx);
    const effects = frames.map((f) => (f.command === 'SEND' ? this.prepareSend(f) : this.prepareAck(f)));
    // Every effect runs, even if one throws at once: the checks above already passed for all.
    await Promise.all(effects.map((run) => Promise.resolve().then(run)));
  }

  // ---- close ------------------------------------------------------------------------------

  /** The socket is gone: forget the session everywhere, keep its unacknowledged messages. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this._transactions?.clear();
    const work: Promise<unknown>[] = this._acks ? [this.keepUnacked(this._acks.drain())] : [];
    for (const sub of this._subs?.values() ?? []) {
      sub.stream?.close();
      this.deps.subscriptions.remove(sub);
      this.deps.metrics.subscriptions.dec();
    }
    this._subs?.clear();
    this._replaying?.clear();
    for (const doc of this._docs?.keys() ?? []) {
      work.push(this.deps.registry.leaveDoc(doc, this.user, this.id).then(() => this.announce(doc, 'leave')));
    }
    this._docs?.clear();
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
    if (err instanceof DestinationPatternError) throw new RelayError('INVALID_DESTINATION', `invalid destination pattern: ${err.message}`);
    throw err;
  }
}

/** User destinations and queues keep messages for their user; topics do not. */
function replaysInbox(sub: Subscription): boolean {
  return sub.kind === 'user' || sub.destination.startsWith('/queue/');
}

/**
 * The message written last: whether it travels binary (decided once, not per subscriber), and its
 * tail once a second session wanted it (a fan-out, in a row).
 */
let last: { msg: RelayMessage; binary: boolean; plain: boolean; tail: MessageTail | undefined } | undefined;

/**
 * What every MESSAGE of `msg` ends with — `redelivered`, the copied headers, `content-length`,
 * the body — encoded once per message and escaping rule (1.0 escapes nothing) when it goes to
 * several sessions. Undefined for its first: most messages go to one session, which is cheaper
 * encoded whole.
 */
function sharedTail(msg: RelayMessage, version: StompVersion): MessageTail | undefined {
  const plain = version === '1.0';
  if (last === undefined || last.msg !== msg) {
    last = { msg, binary: travelsBinary(header(msg, 'content-type'), msg.body), plain, tail: undefined };
    return undefined;
  }
  if (last.plain !== plain) {
    last.plain = plain;
    last.tail = undefined;
    return undefined;
  }
  if (last.tail === undefined) {
    const headers: [string, string][] = [];
    addTailHeaders(headers, msg);
    last.tail = { bytes: encodeTail(headers, msg.body, version), binary: last.binary };
  }
  return last.tail;
}

/** Whether `msg` travels binary; known once sharedTail has seen it. */
function lastBinary(msg: RelayMessage): boolean {
  return last !== undefined && last.msg === msg ? last.binary : travelsBinary(header(msg, 'content-type'), msg.body);
}

function addTailHeaders(headers: [string, string][], msg: RelayMessage): void {
  if (msg.redelivered) headers.push(['redelivered', 'true']);
  for (const h of msg.headers) headers.push([h[0], h[1]]);
  headers.push(['content-length', String(msg.body.length)]);
}

/** A message the relay could not take (publish buffer full, broker closing): the sender is told. */
function notAccepted(err: unknown): never {
  if (err instanceof RelayError) throw err;
  throw new RelayError('NOT_ACCEPTED', 'message not accepted by the relay; send it again later', true, { cause: err });
}

function ignore(): void {}

const DONE: Promise<void> = Promise.resolve();

/** What a SEND hands to the router: its destination, the headers every MESSAGE copies, its body and id. */
function outgoing(frame: Frame, destination: string): OutgoingMessage {
  const id = header(frame, 'message-id');
  const headers = messageHeaders(frame.headers);
  return id === undefined ? { destination, headers, body: frame.body } : { destination, headers, body: frame.body, id };
}

/**
 * The last `capacity` ids seen, in a ring: `add` answers false for an id still in it. A session
 * makes one on its first delivery (the `recent` getter).
 */
class RecentIds {
  private readonly set = new Set<string>();
  private readonly ring: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  add(id: string): boolean {
    const set = this.set;
    if (set.has(id)) return false;
    if (this.ring.length < this.capacity) {
      this.ring.push(id);
    } else {
      set.delete(this.ring[this.next] as string);
      this.ring[this.next] = id;
      this.next = (this.next + 1) % this.capacity;
    }
    set.add(id);
    return true;
  }
}

function optional(name: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [name]: value };
}

/** The SEND's own headers that travel with the message to every MESSAGE (Spring copies custom headers). */
function messageHeaders(headers: HeaderList): HeaderList {
  const out: [string, string][] = [];
  for (const h of headers) if (!FRAME_HEADERS.has(h[0])) out.push([h[0], h[1]]);
  return out;
}
