import type { DocId, NodeId, UserId } from '../ids.js';

/**
 * What subscribers of `/topic/docs/{docId}/presence` receive: who joined or left the document
 * through one node. A type, not an interface: a message payload (Payload) is a plain record.
 */
export type PresenceNotice = {
  readonly type: 'presence';
  readonly docId: DocId;
  /** Users whose session on `node` joined the document: their first subscription to it. */
  readonly joined: readonly UserId[];
  /** Users whose session on `node` left it: their last unsubscription, or a disconnect. */
  readonly left: readonly UserId[];
  readonly node: NodeId;
  readonly at: string;
};

/** How long a document's later changes gather after a notice, in milliseconds. */
export const PRESENCE_WINDOW_MS = 500;

/**
 * Announces a node's document presence changes, coalesced per document: a change to a quiet
 * document goes out at once; the changes of the next `windowMs` gather into one notice (a user's
 * last change wins). A reconnect storm, thousands of sessions joining their documents within
 * seconds, then sends a few notices per document rather than one per session, each to every
 * subscriber of that document. Notices are hints: `GET /api/docs/{docId}/presence` has the list.
 */
export class PresenceNotices {
  /** Documents in their gathering window, with the changes gathered so far. */
  private readonly open = new Map<DocId, Map<UserId, 'join' | 'leave'>>();
  private tick: NodeJS.Timeout | undefined;

  constructor(
    private readonly nodeId: NodeId,
    private readonly send: (docId: DocId, notice: PresenceNotice) => void,
    private readonly windowMs = PRESENCE_WINDOW_MS,
  ) {}

  changed(docId: DocId, user: UserId, change: 'join' | 'leave'): void {
    const gathered = this.open.get(docId);
    if (gathered) {
      gathered.set(user, change);
      return;
    }
    this.open.set(docId, new Map());
    this.tick ??= setInterval(() => this.flush(), this.windowMs).unref();
    this.send(docId, this.notice(docId, new Map([[user, change]])));
  }

  /** Sends what each open document gathered; a document with nothing gathered is quiet again. */
  private flush(): void {
    for (const [docId, gathered] of this.open) {
      if (gathered.size === 0) this.open.delete(docId);
      else {
        this.open.set(docId, new Map());
        this.send(docId, this.notice(docId, gathered));
      }
    }
    if (this.open.size === 0) this.close();
  }

  close(): void {
    clearInterval(this.tick);
    this.tick = undefined;
  }

  private notice(docId: DocId, changes: ReadonlyMap<UserId, 'join' | 'leave'>): PresenceNotice {
    const joined: UserId[] = [];
    const left: UserId[] = [];
    for (const [user, change] of changes) (change === 'join' ? joined : left).push(user);
    return { type: 'presence', docId, joined, left, node: this.nodeId, at: new Date().toISOString() };
  }
}
