import { RelayError } from '../errors.js';
import type { MessagingDeps, SessionLink } from './messaging-deps.js';
import { SessionMessaging } from './session-messaging.js';

export { travelsBinary, type MessageTail, type MessagingDeps, type SessionLink } from './messaging-deps.js';

/** Node-wide STOMP semantics: opens the messaging side of each session. */
export class Messaging {
  constructor(readonly deps: MessagingDeps) {}

  /** Registers the session with the node and the registry. Rejects when a connection limit is hit. */
  async open(link: SessionLink): Promise<SessionMessaging> {
    const { subscriptions, limits, registry } = this.deps;
    if (subscriptions.sessionCount(link.user) >= limits.maxConnectionsPerUser) {
      throw new RelayError(
        'TOO_MANY_CONNECTIONS',
        `user has ${limits.maxConnectionsPerUser} connections on this node already`,
      );
    }
    const session = new SessionMessaging(this.deps, link);
    subscriptions.addSession(session);
    try {
      await registry.addSession(link.user, link.id);
      await this.deps.router.announceRoutes(link.user);
    } catch (err) {
      subscriptions.removeSession(session);
      throw err;
    }
    this.deps.metrics.sessions.inc();
    return session;
  }
}
