import { header, type Frame, type StompVersion } from '../../protocol/index.js';
import { RelayError } from '../errors.js';
import type { UserId } from '../ids.js';
import type { RelayMessage } from '../relay/relay-message.js';
import { AckTracker, type Unacked } from './acks.js';
import { replaysInbox, type ReplayTarget } from './inbox-replay.js';
import type { MessagingDeps } from './messaging-deps.js';
import { required } from './send-frames.js';
import type { Subscription } from './subscriptions.js';

/**
 * A session's side of ACK and NACK, made at its first MESSAGE on a `client` or
 * `client-individual` subscription: what is delivered and not yet acknowledged, the redelivery a
 * NACK asks for (up to MAX_REDELIVERIES, then dead-lettered), and the user's inbox for what a
 * subscription leaves unacknowledged when it ends (SPEC §3).
 */
export class SessionAcks {
  private readonly tracker = new AckTracker();
  /** NACKs so far per message id, while it is redelivered. */
  private nacks: Map<string, number> | undefined;

  constructor(
    private readonly deps: Pick<MessagingDeps, 'limits' | 'metrics' | 'log' | 'store'>,
    private readonly user: UserId,
    /** Writes a redelivery; tells whether its subscription is still the session's. */
    private readonly target: ReplayTarget,
  ) {}

  /** The `ack` id of a MESSAGE about to be written on `sub`; the error that ends the session when `sub` has too many unacknowledged. */
  track(sub: Subscription, msg: RelayMessage): string | RelayError {
    const { maxUnackedPerSubscription } = this.deps.limits;
    if (this.tracker.pendingFor(sub) >= maxUnackedPerSubscription)
      return new RelayError(
        'TOO_MANY_UNACKED',
        `more than ${maxUnackedPerSubscription} unacknowledged messages on subscription ${sub.id}`,
      );
    const ackId = this.tracker.nextAckId();
    this.tracker.add({ ackId, sub, msg });
    return ackId;
  }

  /** Checks an ACK/NACK's headers now; settling runs later (at once, or at COMMIT). */
  prepare(frame: Frame, version: StompVersion): () => Promise<void> {
    const ids =
      version === '1.2'
        ? { ackId: required(frame, 'id') }
        : { messageId: required(frame, 'message-id'), ...optional('subscription', header(frame, 'subscription')) };
    return async () => {
      const entry = this.tracker.find(ids);
      if (!entry) return; // already settled, or never ours: nothing to do (Spring ignores ACKs altogether)
      const settled = this.tracker.settle(entry);
      if (frame.command === 'ACK') {
        for (const e of settled) this.nacks?.delete(e.msg.id);
        return;
      }
      // Each one, whatever another's write does (the entries are already settled).
      await Promise.all(settled.map((e) => this.redeliver(e)));
    };
  }

  /** What `sub` (every subscription, when omitted) left unacknowledged goes to the user's inbox. */
  async keepUnacked(sub?: Subscription): Promise<void> {
    for (const { sub: s, msg } of this.tracker.drain(sub)) {
      if (!replaysInbox(s)) continue; // topics are not kept
      await this.deps.store.append(this.user, s.destination, { ...msg, redelivered: true });
    }
  }

  /** NACK: deliver again on the same subscription, up to MAX_REDELIVERIES times, then dead-letter. */
  private async redeliver(entry: Unacked): Promise<void> {
    const nacks = (this.nacks ??= new Map<string, number>());
    const attempts = (nacks.get(entry.msg.id) ?? 0) + 1;
    if (attempts > this.deps.limits.maxRedeliveries || !this.target.isCurrent(entry.sub)) {
      nacks.delete(entry.msg.id);
      this.deps.metrics.deadLettered.inc();
      this.deps.log.warn({ id: entry.msg.id, destination: entry.sub.destination }, 'message dead-lettered after NACKs');
      return;
    }
    nacks.set(entry.msg.id, attempts);
    const position = entry.sub.stream ? entry.msg.position : undefined;
    this.target.writeReplayed(entry.sub, { ...entry.msg, redelivered: true }, position);
  }
}

function optional(name: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [name]: value };
}
