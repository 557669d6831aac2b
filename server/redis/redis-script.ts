import type { Cluster, Redis } from 'ioredis';

/**
 * What the Redis-backed classes are given: one server or Sentinel (`Redis`), or a Redis Cluster
 * (`Cluster`, which routes each command and script by its first key).
 */
export type RedisConnection = Redis | Cluster;

/** A value a script can be given: ioredis sends numbers as their decimal text, Buffers as they are. */
export type ScriptArg = string | number | Buffer;

type ScriptMethod = (...args: ScriptArg[]) => Promise<unknown>;

/**
 * A Lua script defined on a connection with ioredis' `defineCommand`, reached through a typed
 * call instead of the untyped method `defineCommand` adds.
 *
 * Why `defineCommand` rather than our own EVALSHA-then-EVAL: ioredis sends the full script
 * (EVAL) the first time it is written on each new socket, so after a reconnect to a restarted
 * Redis (empty script cache) the commands it replays from its offline queue run in the order
 * they were issued. A NOSCRIPT-then-EVAL fallback would re-send a failed update later, after
 * updates issued behind it, and could apply it after a `resync()`.
 */
export class RedisScript {
  readonly #name: string;
  readonly #lua: string;
  readonly #numberOfKeys: number;

  /**
   * @param name         command name on the connection; must be unique per script text
   * @param numberOfKeys how many leading arguments are keys (KEYS), the rest are ARGV
   */
  constructor(name: string, lua: string, numberOfKeys: number) {
    this.#name = name;
    this.#lua = lua;
    this.#numberOfKeys = numberOfKeys;
  }

  /**
   * Runs the script atomically; rejects with Redis' error when the script fails. `buffers`: bulk
   * strings in the reply come back as Buffers (binary data), not decoded as UTF-8.
   */
  run(redis: RedisConnection, args: readonly ScriptArg[], buffers = false): Promise<unknown> {
    const methods = redis as unknown as Record<string, ScriptMethod | undefined>;
    // defineCommand adds both: `name` (strings) and `nameBuffer` (Buffers).
    const name = buffers ? `${this.#name}Buffer` : this.#name;
    let method = methods[name];
    if (typeof method !== 'function') {
      redis.defineCommand(this.#name, { lua: this.#lua, numberOfKeys: this.#numberOfKeys });
      method = methods[name];
      if (typeof method !== 'function') throw new Error(`ioredis did not define the command ${name}`);
    }
    return method.apply(redis, [...args]);
  }
}

/**
 * Refuses a connection with ioredis' own `keyPrefix`: it would prefix the keys given to commands
 * but not the names scripts build inside Redis, splitting one namespace in two. The namespace is
 * the `keyPrefix` passed to our classes instead.
 */
export function checkNoClientKeyPrefix(redis: RedisConnection): void {
  if (redis.options.keyPrefix) {
    throw new RangeError(
      'use a Redis connection without the ioredis keyPrefix option; pass keyPrefix to stomp-relay instead',
    );
  }
}

/** How long a write waits for REDIS_WAIT_REPLICAS replicas to confirm it. */
export const WAIT_TIMEOUT_MS = 500;

/**
 * REDIS_WAIT_REPLICAS: resolves once the writes sent so far on `redis` are on `want` replicas
 * (Redis WAIT), so a failover to one of them cannot lose them; rejects when fewer confirm within
 * WAIT_TIMEOUT_MS (the write's message is then not accepted, and its sender sends it again).
 */
export async function waitForReplicas(redis: RedisConnection, want: number, what: string): Promise<void> {
  if (want === 0) return;
  const acked = await redis.wait(want, WAIT_TIMEOUT_MS);
  if (acked < want)
    throw new Error(`${what} on ${acked} of ${want} Redis replicas within ${WAIT_TIMEOUT_MS} ms; not accepted`);
}
