import type { DocId, NodeId, UserId } from '../ids.js';

/**
 * Every Redis key stomp-relay uses, built from `KEY_PREFIX` (which carries its own separator,
 * e.g. `stomp:`). Nothing else builds key names (STYLE 3.3). The Lua scripts build the same
 * names with {@link LUA_KEYS}, which must stay in step with this file (a test runs both).
 *
 * | key                        | type   | holds                                                       |
 * |----------------------------|--------|-------------------------------------------------------------|
 * | `{p}co:{docId}`            | hash   | user id → `{"node","sessions","nodes":{nodeId:count}}` (SPEC §5) |
 * | `{p}user:{userId}`         | hash   | node id → session count                                     |
 * | `{p}node:{nodeId}`         | string | liveness, PX nodeTtlMs; value = epoch ms of the last refresh |
 * | `{p}nodes`                 | set    | node ids that ever kept alive and were not removed          |
 * | `{p}node-users:{nodeId}`   | set    | user ids the node registered in `user:*`                    |
 * | `{p}node-docs:{nodeId}`    | set    | `["docId","userId"]` pairs (as Lua cjson writes them) the node registered in `co:*` |
 * | `{p}node-writes:{nodeId}`  | string | how many registry updates of the node Redis applied (shows writes a failover lost) |
 * | `{p}inbox:{userId}`        | list   | offline messages, oldest first                              |
 */
export interface RedisKeys {
  readonly prefix: string;
  /** Document presence hash. */
  co(docId: DocId): string;
  /** The nodes holding the user's sessions. */
  user(userId: UserId): string;
  /** The node's liveness key. */
  node(nodeId: NodeId): string;
  /** The set of known node ids. */
  nodes(): string;
  /** Index of the users the node registered, so removing it is O(its entries). */
  nodeUsers(nodeId: NodeId): string;
  /** Index of the (doc, user) presences the node registered. */
  nodeDocs(nodeId: NodeId): string;
  /** Count of the node's registry updates Redis applied. */
  nodeWrites(nodeId: NodeId): string;
  /** Held by the node taking over the (dead) node's queue; the node waits for it before declaring its queue again. */
  queueClaim(nodeId: NodeId): string;
  /** The user's offline inbox. */
  inbox(userId: UserId): string;
  /** SCAN MATCH pattern for every key under the prefix (tests, tooling). */
  pattern(): string;
}

/** Bytes that stay as they are in a key; anything else is percent-encoded. */
const SAFE_BYTE = /^[A-Za-z0-9._@-]$/;

/**
 * Encodes an id for use inside a key. Ids made only of `[A-Za-z0-9._@-]` are kept as they are
 * (`co:42`); any other UTF-8 byte becomes `%XX` (upper-case hex), `%` included, so the mapping
 * is one-to-one and no id can contain `:`, `*`, `?`, `[`, `{` or anything else that would let
 * it address another key or widen a SCAN pattern.
 */
export function encodeKeyPart(id: string): string {
  let plain = true;
  for (const ch of id) {
    if (!SAFE_BYTE.test(ch)) {
      plain = false;
      break;
    }
  }
  if (plain) return id;
  let out = '';
  for (const byte of Buffer.from(id, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE_BYTE.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The registry's key prefix. On a Redis Cluster every registry key carries the one hash tag
 * `{registry}` (`stomp:{registry}:co:42`), so the registry's scripts, which reach a user's, a
 * document's and a node's keys at once, run in one slot; on one Redis (or Sentinel) the keys are
 * as SPEC §5 names them. The offline inbox, history and documents spread over slots by their own keys.
 */
export function registryPrefix(keyPrefix: string, cluster: boolean): string {
  return cluster ? `${keyPrefix}{registry}:` : keyPrefix;
}

/** The key names under `prefix` (the config's `KEY_PREFIX`, separator included). */
export function redisKeys(prefix: string): RedisKeys {
  // The prefix is the operator's namespace, used verbatim; a glob character in it would make
  // pattern() match other namespaces, so refuse it instead of escaping silently.
  if (/[*?[\]\\]/.test(prefix))
    throw new RangeError(`KEY_PREFIX must not contain * ? [ ] or \\: ${JSON.stringify(prefix)}`);
  return {
    prefix,
    co: (docId) => `${prefix}co:${encodeKeyPart(docId)}`,
    user: (userId) => `${prefix}user:${encodeKeyPart(userId)}`,
    node: (nodeId) => `${prefix}node:${encodeKeyPart(nodeId)}`,
    nodes: () => `${prefix}nodes`,
    nodeUsers: (nodeId) => `${prefix}node-users:${encodeKeyPart(nodeId)}`,
    nodeDocs: (nodeId) => `${prefix}node-docs:${encodeKeyPart(nodeId)}`,
    nodeWrites: (nodeId) => `${prefix}node-writes:${encodeKeyPart(nodeId)}`,
    queueClaim: (nodeId) => `${prefix}queue-claim:${encodeKeyPart(nodeId)}`,
    inbox: (userId) => `${prefix}inbox:${encodeKeyPart(userId)}`,
    pattern: () => `${prefix}*`,
  };
}

/**
 * The same key builders in Lua, for scripts that find ids inside Redis (a node's index sets, a
 * user's node hash) and must reach the keys named by them within the one atomic script. Prepend
 * it to a script; the script calls `K.co(prefix, docId)` and so on with `prefix` from ARGV.
 *
 * Keep in step with {@link redisKeys}. Redis runs Lua in the C locale, and the explicit byte
 * class below does not depend on it anyway. Keys built this way must share the slot of the key
 * the script declares (a Redis Cluster routes a script by it): see `registryPrefix`.
 */
export const LUA_KEYS = `
local K = {}
local function enc(id)
  return (string.gsub(id, '[^A-Za-z0-9%._@%-]', function(c) return string.format('%%%02X', string.byte(c)) end))
end
K.enc = enc
function K.co(p, doc) return p .. 'co:' .. enc(doc) end
function K.user(p, user) return p .. 'user:' .. enc(user) end
function K.node(p, node) return p .. 'node:' .. enc(node) end
function K.nodes(p) return p .. 'nodes' end
function K.nodeUsers(p, node) return p .. 'node-users:' .. enc(node) end
function K.nodeDocs(p, node) return p .. 'node-docs:' .. enc(node) end
function K.nodeWrites(p, node) return p .. 'node-writes:' .. enc(node) end
function K.queueClaim(p, node) return p .. 'queue-claim:' .. enc(node) end
function K.inbox(p, user) return p .. 'inbox:' .. enc(user) end
`;
