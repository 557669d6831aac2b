import type { DocId, SessionId, UserId } from '../ids.js';
import type { MessagingDeps } from './messaging-deps.js';

/**
 * The documents a session is in (SPEC §4), counted over its subscriptions: the first subscription
 * of a document joins it in the registry and announces the join on its presence topic, the last
 * one leaves it.
 */
export class DocMemberships {
  private readonly counts = new Map<DocId, number>();

  constructor(
    private readonly deps: Pick<MessagingDeps, 'registry' | 'router' | 'presence'>,
    private readonly user: UserId,
    private readonly session: SessionId,
  ) {}

  async join(doc: DocId): Promise<void> {
    const n = this.counts.get(doc) ?? 0;
    this.counts.set(doc, n + 1);
    if (n > 0) return;
    await this.deps.registry.joinDoc(doc, this.user, this.session);
    await this.deps.router.announceRoutes(this.user);
    this.announce(doc, 'join');
  }

  async leave(doc: DocId): Promise<void> {
    const n = (this.counts.get(doc) ?? 1) - 1;
    if (n > 0) {
      this.counts.set(doc, n);
      return;
    }
    this.counts.delete(doc);
    await this.deps.registry.leaveDoc(doc, this.user, this.session);
    this.deps.router.forget(this.user);
    this.announce(doc, 'leave');
  }

  /** The session is gone: it leaves every document it was in. */
  leaveAll(): Promise<void>[] {
    const work = [...this.counts.keys()].map((doc) =>
      this.deps.registry.leaveDoc(doc, this.user, this.session).then(() => this.announce(doc, 'leave')),
    );
    this.counts.clear();
    return work;
  }

  /** Tells the document's subscribers that its presence changed (PresenceNotices); `GET /api/docs/{docId}/presence` has the whole list. */
  private announce(doc: DocId, type: 'join' | 'leave'): void {
    this.deps.presence.changed(doc, this.user, type);
  }
}
