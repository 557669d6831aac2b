import { randomBytes } from 'node:crypto';

/**
 * Cluster-unique message ids: a random per-process token plus a counter. A NODE_ID may be reused
 * after a restart, so the token, not the node id, keeps ids from repeating.
 */
export function createIdGenerator(): () => string {
  const token = randomBytes(6).toString('base64url');
  let n = 0;
  return () => `${token}-${(n++).toString(36)}`;
}
