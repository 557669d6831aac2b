import type { DocId, NodeId, SessionId, UserId } from '../ids.js';
import { redisKeys, registryPrefix, type RedisKeys } from '../redis/redis-keys.js';
import { checkNoClientKeyPrefix, type ScriptArg, type RedisConnection } from '../redis/redis-script.js';
import { COMMANDS, type ScriptName } from './redis-registry-scripts.js';
import type { PresenceEntry, Registry } from './registry.js';
import { SessionIndex } from './session-index.js';

/** At most this many updates in one script: Redis runs nothing else while a script runs. */
const MAX_BATCH = 500;

export interface RedisRegistryOptions {
  /** The connection; owned by the caller. Must not use ioredis' own `keyPrefix` option. */
  readonly redis: RedisConnection;
  /** The node this instance speaks for. */
  readonly nodeId: NodeId;
  /** `KEY_PREFIX`, separator included (`stomp:`); every key lives under it. */
  readonly keyPrefix: string;
  /** Lifetime of the liveness key set by `keepAlive()`; call `keepAlive()` well within it. */
  readonly nodeTtlMs: number;
  /** Whether `close()` also quits the connection. @default false */
  readonly quitOnClose?: boolean;
  /**
   * Told when a resync this class starts on its own (after a reconnect, or after `keepAlive()`
   * found the node missing) fails; the next `keepAlive()` retries it. @default process.emitWarning
   */
  readonly onError?: (err: Error) => void;
  /**
   * Told after a resync rewrote this node's entries: other nodes may have taken the node for
   * dead meanwhile and kept its users' messages offline, so the node takes those inboxes again.
   */
  readonly onResynced?: () => void;
  /**
   * Told when a keepAlive found this node's liveness key gone after it had been alive: other nodes
   * may have swept it and adopted its queue (a Redis failover longer than the TTL).
   */
  readonly onRevived?: () => void;
}

/**
 * The cluster registry on Redis (SPEC §5): the hash `{prefix}co:{docId}` (user → JSON
 * `{"node","sessions","nodes"}`), the hash `{prefix}user:{userId}` (node → session count), a
 * liveness key per node with a TTL, and per-node index sets (see redis-keys.ts).
 *
 * Every update runs inside a Lua script, so concurrent sessions of one user on several nodes
 * cannot corrupt each other's counts; a count never goes below zero, and a field or key goes at
 * zero. The updates of one turn of the event loop go together, in order, in one script.
 * Reads leave out nodes whose liveness key is gone, in one round trip.
 *
 * The instance keeps a local mirror of this node's registrations (by session id, so repeated or
 * unmatched calls are no-ops). `resync()` rewrites the mirror to Redis; it runs on its own after
 * a reconnect, and from `keepAlive()` when the node's liveness key was gone (Redis restarted
 * empty, or another node swept this one) or an earlier update failed.
 *
 * Needs a standalone Redis (or one shard): the scripts build key names inside Redis.
 */
export class RedisRegistry implements Registry {
  readonly nodeId: NodeId;
  /** The key names this registry uses (for tests and tooling). */
  readonly keys: RedisKeys;
  readonly #redis: RedisConnection;
  readonly #nodeTtlMs: number;
  readonly #quitOnClose: boolean;
  readonly #onError: (err: Error) => void;
  readonly #onResynced: (() => void) | undefined;
  readonly #onRevived: (() => void) | undefined;
  /** A keepAlive has succeeded: a liveness key missing after this means the node was taken for dead. */
  #aliveOnce = false;
  readonly #mirror = new SessionIndex();
  /** Set when an update may not have reached Redis; the next keepAlive resyncs. */
  #dirty = false;
  /** Updates sent, and updates Redis answered: Redis counts at least the latter unless it lost some. */
  #issued = 0;
  #confirmed = 0;
  /** Updates made in this turn of the event loop, sent together at its end (`#flush`). */
  #batch: ScriptArg[] = [];
  #waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  #flushing: NodeJS.Immediate | undefined;
  #wasReady: boolean;
  #closed = false;
  readonly #onReady = (): void => {
    // The first 'ready' is the initial connect; any later one is a reconnect, after which Redis
    // may have lost our entries (SPEC §8: re-register the node's sessions). ioredis emits
    // 'ready' after it has re-sent its queued commands, so the resync lands after them.
    if (this.#wasReady && !this.#closed) this.#resyncInBackground();
    this.#wasReady = true;
  };

  constructor(options: RedisRegistryOptions) {
    checkNoClientKeyPrefix(options.redis);
    if (!Number.isSafeInteger(options.nodeTtlMs) || options.nodeTtlMs < 1) {
      throw new RangeError(`nodeTtlMs must be an integer >= 1, got ${options.nodeTtlMs}`);
    }
    this.nodeId = options.nodeId;
    this.keys = redisKeys(registryPrefix(options.keyPrefix, options.redis.isCluster));
    this.#redis = options.redis;
    this.#nodeTtlMs = options.nodeTtlMs;
    this.#quitOnClose = options.quitOnClose ?? false;
    this.#onError = options.onError ?? ((err) => process.emitWarning(err));
    this.#onResynced = options.onResynced;
    this.#onRevived = options.onRevived;
    this.#wasReady = options.redis.status === 'ready';
    this.#redis.on('ready', this.#onReady);
  }

  /** Resolves once Redis counts the session; a repeated call for the same session is a no-op. */
  async addSession(userId: UserId, sessionId: SessionId): Promise<void> {
    if (!this.#mirror.addSession(userId, sessionId)) return;
    await this.#update('a', userId);
  }

  /** Resolves once Redis no longer counts the session; the user's field for this node goes at 0. */
  async removeSession(userId: UserId, sessionId: SessionId): Promise<void> {
    if (!this.#mirror.removeSession(userId, sessionId)) return;
    await this.#update('r', userId);
  }

  /** Resolves once `co:{docId}` shows the user on this node, which becomes its most recent node. */
  async joinDoc(docId: DocId, userId: UserId, sessionId: SessionId): Promise<void> {
    if (!this.#mirror.joinDoc(docId, userId, sessionId)) return;
    await this.#update('j', docId, userId);
  }

  /** Resolves once the session no longer counts in `co:{docId}`; the field goes at the user's last one. */
  async leaveDoc(docId: DocId, userId: UserId, sessionId: SessionId): Promise<void> {
    if (!this.#mirror.leaveDoc(docId, userId, sessionId)) return;
    await this.#update('l', docId, userId);
  }

  /** Live nodes holding the user (present in `docId` when given), sorted; one round trip. */
  async locate(userId: UserId, docId?: DocId): Promise<NodeId[]> {
    const reply =
      docId === undefined ? await this.#run('locate', [userId]) : await this.#run('locateDoc', [docId, userId]);
    return stringArray(reply).sort();
  }

  /**
   * The users present in the document through live nodes, sorted by user id; one round trip.
   * `node` is the stored most recent node while it is live, else the live node with most sessions.
   */
  async presence(docId: DocId): Promise<PresenceEntry[]> {
    const reply = await this.#run('presence', [docId]);
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error('unexpected reply to the presence script');
    const flat = stringArray(reply[0]);
    const live = new Set(stringArray(reply[1]));
    const entries: PresenceEntry[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const entry = presenceEntry(flat[i] as string, flat[i + 1] as string, live);
      if (entry) entries.push(entry);
    }
    return entries.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  }

  /**
   * Sets `node:{nodeId}` with PX nodeTtlMs and adds the node to `nodes`. When the key was gone
   * (Redis lost it, or this node was swept as dead), an update failed earlier, or Redis has
   * applied fewer of this node's updates than it confirmed (a failover lost the last writes the
   * old primary had not replicated), and the first time, it then rewrites the node's
   * registrations before resolving.
   */
  async keepAlive(): Promise<void> {
    const reply = await this.#run('keepAlive', [this.nodeId, this.#nodeTtlMs, Date.now()]);
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error('unexpected reply to the keepAlive script');
    const [existed, applied] = reply as [unknown, unknown];
    // The first one also replaces what an earlier process under this node id left (its count included).
    if (existed !== 1 || this.#dirty || !this.#aliveOnce || Number(applied) < this.#confirmed) await this.resync();
    if (existed !== 1 && this.#aliveOnce) this.#onRevived?.();
    this.#aliveOnce = true;
  }

  /**
   * Removes every entry of `nodeId`, its liveness key and its membership of `nodes`, in one
   * script. For this node (graceful drain) it also clears the local mirror, so later
   * `removeSession`/`leaveDoc` calls of closing sessions are no-ops and no resync brings
   * entries back.
   */
  async removeNode(nodeId: NodeId): Promise<void> {
    if (nodeId === this.nodeId) {
      this.#mirror.clear();
      this.#dirty = false;
    }
    await this.#run('removeNode', [nodeId]);
  }

  /**
   * Removes, in one script, every entry of the known nodes whose liveness key is gone, and
   * resolves with their ids. Safe to run from every node at once (each dead node is removed once).
   */
  async sweep(): Promise<NodeId[]> {
    // Never itself: a node whose liveness expired while it could not reach Redis (a failover) is
    // alive, and resyncs at its next keepAlive; adopting its own queue would stop its consumer.
    return stringArray(await this.#run('sweep', [this.nodeId, this.#claimTtlMs])).sort();
  }

  async holdClaim(nodeId: NodeId, keep: boolean): Promise<void> {
    await this.#run('holdClaim', [nodeId, this.nodeId, keep ? this.#claimTtlMs : 0]);
  }

  async queueClaimedBy(): Promise<NodeId | undefined> {
    const by = await this.#run('queueClaim', [this.nodeId]);
    return typeof by === 'string' ? by : undefined;
  }

  /** A claim outlives a sweeper that died while taking a queue over by this much, and is renewed well within it. */
  get #claimTtlMs(): number {
    return 3 * this.#nodeTtlMs;
  }

  /** Known nodes whose liveness key is still there, sorted; one round trip. */
  async liveNodes(): Promise<NodeId[]> {
    return stringArray(await this.#run('liveNodes', [])).sort();
  }

  /**
   * Replaces everything this node has in Redis with the local mirror and refreshes its liveness,
   * in one script. Updates issued after the call are applied after it (one connection, in order).
   */
  async resync(): Promise<void> {
    const { users, docs } = this.#mirror.snapshot();
    const args: ScriptArg[] = [this.nodeId, this.#nodeTtlMs, Date.now(), users.length];
    for (const [userId, n] of users) args.push(userId, n);
    args.push(docs.length);
    for (const [docId, userId, n] of docs) args.push(docId, userId, n);
    args.push(this.#issued);
    this.#dirty = false;
    try {
      await this.#run('resync', args);
    } catch (err) {
      this.#dirty = true;
      throw err;
    }
    this.#onResynced?.();
  }

  /** True while the connection is 'ready' and the registry is not closed (for `/readyz`). */
  isReady(): boolean {
    return !this.#closed && this.#redis.status === 'ready';
  }

  /**
   * Stops reacting to reconnects; quits the connection only with `quitOnClose`. Leaves the
   * node's entries in Redis: drain calls `removeNode(nodeId)` first.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#redis.off('ready', this.#onReady);
    if (this.#quitOnClose) await this.#redis.quit();
  }

  #run(name: ScriptName, args: readonly ScriptArg[]): Promise<unknown> {
    // Updates made before this call reach Redis before it: one connection keeps the order.
    this.#flush();
    // The set of nodes is the declared key: a Redis Cluster sends the script to its slot, where
    // every other registry key is too (registryPrefix).
    return COMMANDS[name].run(this.#redis, [this.keys.nodes(), this.keys.prefix, ...args]);
  }

  /**
   * Queues one update (see the `updates` script) for the end of this turn of the event loop; a
   * storm's registrations then travel by the hundred. Resolves once Redis applied it.
   */
  #update(op: 'a' | 'r' | 'j' | 'l', ...args: readonly ScriptArg[]): Promise<void> {
    this.#issued++;
    this.#batch.push(op, ...args);
    const applied = new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    if (this.#waiting.length >= MAX_BATCH) this.#flush();
    else this.#flushing ??= setImmediate(() => this.#flush());
    return applied;
  }

  #flush(): void {
    if (this.#flushing) clearImmediate(this.#flushing);
    this.#flushing = undefined;
    const waiting = this.#waiting;
    if (waiting.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#waiting = [];
    COMMANDS.updates.run(this.#redis, [this.keys.nodes(), this.keys.prefix, this.nodeId, ...batch]).then(
      () => {
        this.#confirmed += waiting.length;
        for (const w of waiting) w.resolve();
      },
      (err: unknown) => {
        // The mirror already holds the changes; Redis may or may not. The next keepAlive (or
        // reconnect) rewrites the mirror, and the callers still learn of the failure.
        this.#dirty = true;
        const failed = new Error('registry update failed', { cause: err });
        for (const w of waiting) w.reject(failed);
      },
    );
  }

  #resyncInBackground(): void {
    this.resync().catch((err: unknown) => {
      this.#onError(new Error('registry resync after reconnect failed', { cause: err }));
    });
  }
}

function stringArray(reply: unknown): string[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from a registry script');
  return reply.map((v) => (typeof v === 'string' ? v : String(v)));
}

/** A `co:{doc}` field as the API shows it, restricted to live nodes; undefined when none is live. */
function presenceEntry(userId: UserId, raw: string, live: ReadonlySet<NodeId>): PresenceEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined; // not written by us; the next update of this field overwrites it
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const stored = value as { node?: unknown; nodes?: unknown };
  if (typeof stored.nodes !== 'object' || stored.nodes === null) return undefined;
  // fromEntries defines own properties, so even a node named __proto__ stays data.
  const nodes: Record<NodeId, number> = Object.fromEntries(
    Object.entries(stored.nodes).filter(
      (e): e is [NodeId, number] => live.has(e[0]) && typeof e[1] === 'number' && e[1] > 0,
    ),
  );
  let node = typeof stored.node === 'string' && Object.hasOwn(nodes, stored.node) ? stored.node : undefined;
  if (node === undefined) {
    for (const [n, c] of Object.entries(nodes)) {
      const best = node === undefined ? undefined : nodes[node];
      if (best === undefined || c > best || (c === best && n < (node ?? ''))) node = n;
    }
  }
  if (node === undefined) return undefined;
  return { userId, node, sessions: nodes[node] ?? 0, nodes };
}
