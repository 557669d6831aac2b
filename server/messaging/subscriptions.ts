import type { RelayMessage } from '../relay/relay-message.js';
import type { SessionId, UserId } from '../ids.js';
import { compilePattern, isPattern } from '../destinations/destination-pattern.js';
import { userSubscriptionOf } from '../destinations/destinations.js';
import type { SubscriptionStream } from '../history/subscription-stream.js';
import { addMember, appendMembers, memberCount, membersOf, removeMember, type Members } from '../members.js';

export type AckMode = 'auto' | 'client' | 'client-individual';

/** What the messaging layer needs from a connected session. */
export interface SessionHandle {
  readonly id: SessionId;
  readonly user: UserId;
  /**
   * Writes one MESSAGE for `sub`, synchronously: true once it is queued on the socket (or held for
   * a replay in progress, or already written once), false if the session or subscription is gone.
   */
  deliver(sub: Subscription, msg: RelayMessage): boolean;
  /** Takes the user's offline inbox for `subscription` again (every subscription when omitted). */
  replayStored(subscription?: string): void;
  /** Its subscriptions, as added to and removed from the node's index (LocalSubscriptions). */
  readonly subscriptions: readonly Subscription[];
}

export interface Subscription {
  /** The client's subscription id. */
  readonly id: string;
  /** Unique on this node (subscriptionSerial): what the node's duplicate check remembers of it. */
  readonly serial: number;
  readonly session: SessionHandle;
  /** As the client wrote it: `/topic/x`, `/user/42/queue/chat`. */
  readonly destination: string;
  /** `broker`: /topic and /queue; `user`: the session's own user messages. */
  readonly kind: 'broker' | 'user';
  readonly ackMode: AckMode;
  /** For pattern subscriptions: does a concrete destination match? */
  readonly matches: ((destination: string) => boolean) | undefined;
  /** Set when the destination keeps history (SPEC §11): its positioned messages go through it. */
  readonly stream: SubscriptionStream | undefined;
}

let lastSerial = 0;

/** A number no other subscription of this process has had (from 1). */
export function subscriptionSerial(): number {
  return ++lastSerial;
}

interface Bucket {
  readonly subs: Set<Subscription>;
  readonly matches: ((destination: string) => boolean) | undefined;
}

/** Hooks on the first and last local subscriber of a broker destination (bind/unbind, STYLE example 7). */
export interface SubscriptionHooks {
  firstSubscriber(destination: string): void;
  lastSubscriberGone(destination: string): void;
}

/**
 * The node's index of its own sessions and subscriptions, built for the delivery hot path:
 * exact destinations are one Map lookup; pattern subscriptions are checked one by one.
 */
export class LocalSubscriptions {
  /** Exact destination → its subscriptions (Members: a node has many documents with one or two local subscribers each). */
  private readonly broker = new Map<string, Members<Subscription>>();
  private readonly brokerPatterns = new Map<string, Bucket>();
  /**
   * user → their sessions on this node. A user's `/user/...` subscriptions are found through
   * them: a user has a few, so a scan costs no more than a lookup, and no second entry per user.
   */
  private readonly sessionsByUser = new Map<UserId, Members<SessionHandle>>();

  constructor(private readonly hooks: SubscriptionHooks) {}

  addSession(session: SessionHandle): void {
    addMember(this.sessionsByUser, session.user, session);
  }

  removeSession(session: SessionHandle): void {
    removeMember(this.sessionsByUser, session.user, session);
  }

  sessionCount(user: UserId): number {
    return memberCount(this.sessionsByUser.get(user));
  }

  sessionsOf(user: UserId): Iterable<SessionHandle> {
    return membersOf(this.sessionsByUser.get(user));
  }

  users(): IterableIterator<UserId> {
    return this.sessionsByUser.keys();
  }

  /** Every session of this node takes its inboxes again (after the node was taken for dead). */
  replayAllStored(): void {
    for (const sessions of this.sessionsByUser.values()) for (const s of membersOf(sessions)) s.replayStored();
  }

  static matcherFor(destination: string): ((d: string) => boolean) | undefined {
    return isPattern(destination) ? compilePattern(destination) : undefined;
  }

  /** Indexes a broker subscription; a user subscription is found through its session (see sessionsByUser). */
  add(sub: Subscription): void {
    if (sub.kind !== 'broker') return;
    if (sub.matches === undefined) {
      const first = !this.broker.has(sub.destination);
      addMember(this.broker, sub.destination, sub);
      if (first) this.hooks.firstSubscriber(sub.destination);
      return;
    }
    let bucket = this.brokerPatterns.get(sub.destination);
    if (!bucket) {
      this.brokerPatterns.set(sub.destination, (bucket = { subs: new Set(), matches: sub.matches }));
      this.hooks.firstSubscriber(sub.destination);
    }
    bucket.subs.add(sub);
  }

  remove(sub: Subscription): void {
    if (sub.kind !== 'broker') return;
    if (sub.matches === undefined) {
      if (removeMember(this.broker, sub.destination, sub) && !this.broker.has(sub.destination))
        this.hooks.lastSubscriberGone(sub.destination);
      return;
    }
    const bucket = this.brokerPatterns.get(sub.destination);
    if (!bucket?.subs.delete(sub) || bucket.subs.size > 0) return;
    this.brokerPatterns.delete(sub.destination);
    this.hooks.lastSubscriberGone(sub.destination);
  }

  /** Every local subscription a broadcast to `destination` reaches. */
  broadcastTargets(destination: string): Subscription[] {
    const out: Subscription[] = [];
    const exact = this.broker.get(destination);
    appendMembers(out, exact);
    for (const bucket of this.brokerPatterns.values()) {
      if (bucket.matches?.(destination)) for (const s of bucket.subs) out.push(s);
    }
    return out;
  }

  /** Every local subscription of `user` that a user message for `destination` (`/42/queue/chat`) reaches. */
  userTargets(user: UserId, destination: string, onlySession?: SessionId): Subscription[] {
    const sessions = this.sessionsByUser.get(user);
    if (sessions === undefined) return [];
    const form = userSubscriptionOf(destination);
    const out: Subscription[] = [];
    for (const session of membersOf(sessions)) {
      if (onlySession !== undefined && session.id !== onlySession) continue;
      for (const sub of session.subscriptions) if (reaches(sub, form)) out.push(sub);
    }
    return out;
  }
}

/** Does a user message for the `/user/...` form `form` reach `sub`? */
function reaches(sub: Subscription, form: string): boolean {
  return sub.kind === 'user' && (sub.destination === form || (sub.matches !== undefined && sub.matches(form)));
}
