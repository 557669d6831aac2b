import { compilePattern, isPattern, type DestinationMatcher } from '../destinations/destination-pattern.js';
import { isBrokerDestination, USER_PREFIX, userSubscriptionOf } from '../destinations/destinations.js';
import type { Destination, UserId } from '../ids.js';
import type { RelayMessage } from '../relay/relay-message.js';
import type { StreamId } from './history.js';

/** Subscribed destinations whose answer is remembered; the memory is cleared when full. */
const KNOWN_DESTINATIONS = 1000;

/**
 * Which stream, if any, a subscription follows and an accepted message belongs to (SPEC §11),
 * from HISTORY_DESTINATIONS: Ant patterns over the destination as subscribed.
 *
 * - A concrete `/topic/**` or `/queue/**` destination is its own stream: the id is the
 *   destination (`/topic/docs/42`).
 * - A concrete `/user/**` subscription is one stream per user: `/user/{user}` + the rest, the user
 *   percent-encoded (`/user/alice/42/queue/chat` for alice's `/user/42/queue/chat`), which is
 *   one-to-one and cannot be confused with a broker destination.
 * - A pattern subscription (`/topic/docs/**`) spans streams, so it follows none: its messages
 *   go to it as they always did, without offsets.
 *
 * The sender's side (`ofMessage`) and the subscriber's side (`ofSubscription`) give the same id
 * for a message and the subscriptions it reaches, so the offset assigned at acceptance is the
 * one the subscription counts.
 */
export class HistoryStreams {
  readonly #matchers: readonly DestinationMatcher[];
  readonly #known = new Map<Destination, boolean>();

  /** @param patterns HISTORY_DESTINATIONS, already checked by loadConfig (compilePattern throws else) */
  constructor(patterns: readonly string[]) {
    this.#matchers = patterns.map((p) => compilePattern(p));
  }

  /** False when HISTORY_DESTINATIONS is empty: nothing has a stream, and nothing costs anything. */
  get enabled(): boolean {
    return this.#matchers.length > 0;
  }

  /** The stream a subscription of `user` to `destination` (as the client wrote it) follows, if any. */
  ofSubscription(destination: Destination, user: UserId): StreamId | undefined {
    if (this.#matchers.length === 0 || isPattern(destination) || !this.#keeps(destination)) return undefined;
    if (destination.startsWith(USER_PREFIX)) return userStream(user, destination);
    return isBrokerDestination(destination) ? destination : undefined;
  }

  /**
   * The stream an accepted message belongs to: a broadcast's destination, or the user's stream of
   * the destination its subscribers subscribed with. A message for one session of a user (Spring's
   * `@SendToUser` reply) belongs to none: the user's other sessions never get it, so giving it an
   * offset would show them a gap that a gap fill would then fill with another session's message.
   */
  ofMessage(msg: Pick<RelayMessage, 'target' | 'destination'>): StreamId | undefined {
    if (this.#matchers.length === 0) return undefined;
    const { target } = msg;
    if (target.kind === 'broadcast')
      return isBrokerDestination(msg.destination) ? this.ofSubscription(msg.destination, '') : undefined;
    if (target.sessionId !== undefined) return undefined;
    return this.ofSubscription(userSubscriptionOf(msg.destination), target.user);
  }

  #keeps(destination: Destination): boolean {
    const known = this.#known.get(destination);
    if (known !== undefined) return known;
    const keeps = this.#matchers.some((m) => m(destination));
    if (this.#known.size >= KNOWN_DESTINATIONS) this.#known.clear();
    this.#known.set(destination, keeps);
    return keeps;
  }
}

/** `/user/42/queue/chat` subscribed by `a/b` → `/user/a%2Fb/42/queue/chat`. */
function userStream(user: UserId, subscribed: Destination): StreamId {
  return `${USER_PREFIX}${encodeURIComponent(user)}${subscribed.slice(USER_PREFIX.length - 1)}`;
}
