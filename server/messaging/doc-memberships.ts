import { docOfSubscription } from '../destinations/destinations.js';
import type { DocId, SessionId, UserId } from '../ids.js';
import type { MessagingDeps } from './messaging-deps.js';
import type { Subscription } from './subscriptions.js';

type MembershipDeps = Pick<MessagingDeps, 'registry' | 'router' | 'presence'>;

/**
 * The documents a session is in (SPEC §4) follow from its subscriptions: the first subscription
 * of a document joins it in the registry and announces the join on its presence topic, the last
 * one leaves it. Counted over the session's subscriptions when one comes or goes (at most
 * MAX_SUBSCRIPTIONS), rather than kept in a map of their own: an idle session holds no
 * collection for it (a `Map` is ~240 bytes, a part of an idle session's memory).
 */
export function subscriptionsTo(doc: DocId, subs: Iterable<Subscription>): number {
  let n = 0;
  for (const sub of subs) if (docOf(sub) === doc) n++;
  return n;
}

/**
 * The document `sub` belongs to, read from its destination each time: only a SUBSCRIBE, an
 * UNSUBSCRIBE and a close ask, and a kept copy would be a string per subscription.
 */
export function docOf(sub: Subscription): DocId | undefined {
  return docOfSubscription(sub.destination);
}

/** The distinct documents of `subs`. */
export function docsOf(subs: Iterable<Subscription>): Set<DocId> {
  const docs = new Set<DocId>();
  for (const sub of subs) {
    const doc = docOf(sub);
    if (doc !== undefined) docs.add(doc);
  }
  return docs;
}

/** The session's first subscription to `doc` came: it joins the document. */
export async function joinDoc(deps: MembershipDeps, user: UserId, session: SessionId, doc: DocId): Promise<void> {
  await deps.registry.joinDoc(doc, user, session);
  await deps.router.announceRoutes(user);
  deps.presence.changed(doc, user, 'join');
}

/** The session's last subscription to `doc` went (or the session did): it leaves the document. */
export async function leaveDoc(deps: MembershipDeps, user: UserId, session: SessionId, doc: DocId): Promise<void> {
  await deps.registry.leaveDoc(doc, user, session);
  deps.router.forget(user);
  deps.presence.changed(doc, user, 'leave');
}
