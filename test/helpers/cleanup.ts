import amqp from 'amqplib';
import type { Redis } from 'ioredis';
import { RabbitTopology } from '../../server/broker/rabbit-topology.js';

/** Deletes every Redis key under `prefix` (SCAN, never a flush); refuses a prefix with glob characters. */
export async function deleteRedisKeys(redis: Redis, prefix: string): Promise<number> {
  if (/[*?[\]\\]/.test(prefix)) throw new Error(`refusing a glob in a key prefix: ${prefix}`);
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length > 0) deleted += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}

/**
 * AMQP has no "list queues": deletes the names a cluster's nodes declare (rabbit-topology.ts),
 * and any extra queues and exchanges (the bench's floors).
 */
export async function deleteRabbitNames(
  amqpUrl: string,
  amqpPrefix: string,
  nodeIds: readonly string[],
  extra: { readonly queues?: readonly string[]; readonly exchanges?: readonly string[] } = {},
): Promise<void> {
  const topology = new RabbitTopology(amqpPrefix);
  const conn = await amqp.connect(amqpUrl);
  try {
    const steps: ((ch: amqp.Channel) => Promise<unknown>)[] = [
      ...nodeIds.map((id) => (ch: amqp.Channel) => ch.deleteQueue(topology.nodeQueue(id))),
      ...(extra.queues ?? []).map((q) => (ch: amqp.Channel) => ch.deleteQueue(q)),
      ...nodeIds.map((id) => (ch: amqp.Channel) => ch.deleteExchange(topology.nodeBroadcastExchange(id))),
      (ch) => ch.deleteExchange(topology.relayExchange),
      (ch) => ch.deleteExchange(topology.broadcastExchange),
      ...(extra.exchanges ?? []).map((x) => (ch: amqp.Channel) => ch.deleteExchange(x)),
    ];
    for (const step of steps) {
      // A failed step (a name already gone, on an older server) closes its channel: one per step.
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      try {
        await step(ch);
        await ch.close();
      } catch {
        // already gone
      }
    }
  } finally {
    await conn.close();
  }
}
