import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from '../helpers/services.js';

/** A connection to the test Redis, resolved once it is ready; the caller quits it. */
export async function connectTestRedis(): Promise<Redis> {
  // No retries per request: a test against a dead Redis should fail, not wait.
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  return redis;
}

/** Every key under `prefix`, found with SCAN (never KEYS, never a flush). */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  if (/[*?[\]\\]/.test(prefix)) throw new Error(`refusing a glob in a test prefix: ${prefix}`);
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    found.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

/** Deletes every key under `prefix`, and nothing else. */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<number> {
  const keys = await keysUnder(redis, prefix);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  return keys.length;
}

/** Polls `check` until it returns true, failing after `timeoutMs` (no fixed sleeps). */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
