import type { Socket } from 'node:net';
import { expect } from 'chai';
import { connect } from 'amqplib';
import { Redis } from 'ioredis';
import { writeFramesPerRound } from '../../server/broker/amqp-cork.js';
import { writeCommandsPerTurn } from '../../server/redis/redis-cork.js';
import { TEST_AMQP_URL, TEST_REDIS_URL, requireService, uniquePrefix } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

/** Counts the socket's write calls into the kernel from now on: `write`s and `writev`s. */
function countWrites(socket: Socket): { writes: number; writevs: number } {
  const counts = { writes: 0, writevs: 0 };
  const s = socket as Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = s._write.bind(s);
  const writev = s._writev.bind(s);
  s._write = (...a) => {
    counts.writes++;
    write(...a);
  };
  s._writev = (...a) => {
    counts.writevs++;
    writev(...a);
  };
  return counts;
}

describe('socket writes to Redis and RabbitMQ, one per turn', () => {
  it('sends the Redis commands of one turn in one socket write, replies and order unchanged', async function () {
    await requireService(this, 'redis');
    const redis = new Redis(TEST_REDIS_URL);
    const key = `${uniquePrefix('cork')}list`;
    try {
      await redis.ping();
      writeCommandsPerTurn(redis);
      const counts = countWrites(redis.stream);
      const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => redis.rpush(key, String(i))));
      expect(replies).to.deep.equal(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(await redis.lrange(key, 0, -1)).to.deep.equal(Array.from({ length: 100 }, (_, i) => String(i)));
      // 100 pushes in one turn, then one lrange in a later turn (without the cork: 101 writes).
      expect(counts.writes + counts.writevs).to.equal(2);
    } finally {
      await redis.del(key);
      redis.disconnect();
    }
  });

  it("sends the AMQP frames of one of amqplib's rounds in one socket write", async function () {
    await requireService(this, 'rabbitmq');
    const conn = await connect(TEST_AMQP_URL);
    try {
      expect(writeFramesPerRound(conn), "amqplib's muxer is not the shape it wraps").to.equal(true);
      const ch = await conn.createChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true });
      const socket = (conn.connection as unknown as { stream: Socket }).stream;
      const counts = countWrites(socket);
      for (let i = 0; i < 100; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
      await waitFor(async () => (await ch.checkQueue(queue)).messageCount === 100, 'the 100 messages in the queue');
      // The 100 publishes go in one writev; the checkQueue calls, one frame each, in writes of their own.
      expect(counts.writevs).to.equal(1);
      expect(counts.writes).to.be.below(100);
    } finally {
      await conn.close();
    }
  });
});
