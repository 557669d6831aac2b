import type { DocId, UserId } from '../ids.js';

/** Spring's prefixes: `/app` for handlers, `/topic` and `/queue` for the broker, `/user` for user destinations. */
export const APP_PREFIX = '/app/';
export const USER_PREFIX = '/user/';
const BROKER_PREFIXES = ['/topic/', '/queue/'] as const;

/** Where a SEND goes. */
export type SendTarget =
  | { readonly kind: 'app'; readonly path: string }
  | { readonly kind: 'broker'; readonly destination: string }
  | { readonly kind: 'user'; readonly user: UserId; readonly destination: string }
  | { readonly kind: 'none' };

/** What a SUBSCRIBE listens to. */
export type SubscribeTarget =
  | { readonly kind: 'app'; readonly path: string }
  | { readonly kind: 'broker'; readonly destination: string }
  /** The subscriber's own user messages for `/user` + destination (Spring: `/queue/chat-user<S>`). */
  | { readonly kind: 'user'; readonly destination: string }
  | { readonly kind: 'none' };

export function isBrokerDestination(d: string): boolean {
  return BROKER_PREFIXES.some((p) => d.startsWith(p));
}

/** Spring's user-name encoding: a `/` inside a user name travels as `%2F`. */
export function encodeUserName(user: UserId): string {
  return user.replaceAll('/', '%2F');
}

export function decodeUserName(segment: string): UserId {
  return segment.replaceAll('%2F', '/').replaceAll('%2f', '/');
}

export function parseSendDestination(d: string): SendTarget {
  if (d.startsWith(APP_PREFIX)) return { kind: 'app', path: d.slice(APP_PREFIX.length - 1) };
  if (isBrokerDestination(d)) return { kind: 'broker', destination: d };
  if (d.startsWith(USER_PREFIX)) {
    // `/user/{name}/rest`: the name is the first segment, the rest is the user's destination.
    const rest = d.slice(USER_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash <= 0 || slash === rest.length - 1) return { kind: 'none' };
    return { kind: 'user', user: decodeUserName(rest.slice(0, slash)), destination: rest.slice(slash) };
  }
  return { kind: 'none' };
}

export function parseSubscribeDestination(d: string): SubscribeTarget {
  if (d.startsWith(APP_PREFIX)) return { kind: 'app', path: d.slice(APP_PREFIX.length - 1) };
  if (isBrokerDestination(d)) return { kind: 'broker', destination: d };
  if (d.startsWith(USER_PREFIX) && d.length > USER_PREFIX.length) {
    return { kind: 'user', destination: d.slice(USER_PREFIX.length - 1) };
  }
  return { kind: 'none' };
}

/** The form a client subscribes with for a user destination: `/42/queue/chat` → `/user/42/queue/chat`. */
export function userSubscriptionOf(destination: string): string {
  return USER_PREFIX.slice(0, -1) + destination;
}

const WILDCARD = /[*?{}]/;

/**
 * The document a destination belongs to (SPEC §5): `/user/{docId}/queue/**` and
 * `/topic/docs/{docId}/**` for subscriptions; `/{docId}/queue/**` for a user message's
 * destination. Wildcards never name a document.
 */
export function docOfSubscription(d: string): DocId | undefined {
  if (d.startsWith(USER_PREFIX)) return docOfUserDestination(d.slice(USER_PREFIX.length - 1));
  const m = /^\/topic\/docs\/([^/]+)\//.exec(d);
  return m?.[1] !== undefined && !WILDCARD.test(m[1]) ? m[1] : undefined;
}

export function docOfUserDestination(d: string): DocId | undefined {
  const m = /^\/([^/]+)\/queue\//.exec(d);
  const doc = m?.[1];
  if (doc === undefined || doc === 'queue' || doc === 'topic' || WILDCARD.test(doc)) return undefined;
  return doc;
}

/**
 * Rejects destinations no client should be able to send: control characters, over-long ones,
 * and path tricks (`..`, `//`, encoded slashes outside the user segment) that could make one
 * destination stand for another. Returns the reason, or undefined when acceptable.
 */
export function invalidDestinationReason(d: string, maxLength = 1024): string | undefined {
  if (d.length === 0 || d[0] !== '/') return 'destination must start with /';
  if (d.length > maxLength) return `destination longer than ${maxLength} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(d)) return 'destination contains control characters';
  if (/(^|\/)\.\.?(\/|$)/.test(d) || d.includes('//')) return 'destination contains an empty, . or .. segment';
  return undefined;
}
