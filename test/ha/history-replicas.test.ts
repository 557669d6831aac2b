import { expect } from 'chai';
import { Redis } from 'ioredis';
import { RedisHistory } from '../../server/history/redis-history.js';
import { WAIT_TIMEOUT_MS } from '../../server/redis/redis-script.js';
import { RedisOfflineStore } from '../../server/store/redis-offline-store.js';
import { streamMessage } from '../contract/history.contract.js';
import { canRunRedisLayouts, startRedisSentinel, type RedisSentinelLayout } from '../helpers/ha-engines.js';
import { uniquePrefix } from '../helpers/services.js';

const STREAM = '/topic/docs/replicas';

/**
 * REDIS_WAIT_REPLICAS (SPEC §10, §11): a history append resolves only once the replicas hold it,
 * so a failover to one of them cannot roll the stream's offsets back (the next messages would get
 * offsets every subscription had passed, and be dropped as copies). On Redis with Sentinel of the
 * suite's own: with the replica stopped (SIGSTOP), an append is refused; once it runs again, taken.
 * The same holds for a message stored in an offline inbox: accepted only once a replica holds it.
 */
describe('HA: history appends and offline messages wait for Redis replicas (REDIS_WAIT_REPLICAS)', function () {
  this.timeout(120_000);
  let layout: RedisSentinelLayout | undefined;
  let redis: Redis | undefined;
  let replicaPid: number | undefined;

  before(async function () {
    if (!canRunRedisLayouts()) {
      const what = 'this suite needs redis-server';
      if (process.env.CI === 'true') throw new Error(`${what}; CI needs it (apt-get install redis-server)`);
      console.warn(`\n  !!! SKIPPED "${this.test?.parent?.fullTitle() ?? 'replicas suite'}": ${what}.\n`);
      this.skip();
    }
    ({ layout, redis, replicaPid } = await sentinelWithReplica(`wait-${process.pid}`));
  });

  after(async () => {
    if (replicaPid) process.kill(replicaPid, 'SIGCONT');
    redis?.disconnect();
    await layout?.stop();
  });

  it('refuses an append no replica confirmed, and takes appends again once the replica runs', async () => {
    const history = new RedisHistory({
      redis: redis!,
      keyPrefix: uniquePrefix('wait'),
      limits: { size: 10, ttlMs: 60_000 },
      waitReplicas: 1,
    });
    const first = await history.append(STREAM, streamMessage('m1'));
    expect(first.offset).to.equal(1);

    process.kill(replicaPid!, 'SIGSTOP');
    const started = Date.now();
    const refused = await history.append(STREAM, streamMessage('m2')).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(refused?.message).to.match(/on 0 of 1 Redis replicas/);
    expect(Date.now() - started).to.be.at.least(WAIT_TIMEOUT_MS - 50);

    process.kill(replicaPid!, 'SIGCONT');
    // Sent again (same message id): it keeps the offset its first append gave it.
    expect((await history.append(STREAM, streamMessage('m2'))).offset).to.equal(2);
    expect((await history.append(STREAM, streamMessage('m3'))).offset).to.equal(3);
    await history.close();
  });

  it('refuses to store a message no replica confirmed, and stores again once the replica runs', async () => {
    const store = new RedisOfflineStore({
      redis: redis!,
      keyPrefix: uniquePrefix('wait-inbox'),
      limits: { maxPerUser: 10, retentionMs: 60_000 },
      waitReplicas: 1,
    });
    await store.append('alice', '/user/queue/chat', streamMessage('m1'));

    process.kill(replicaPid!, 'SIGSTOP');
    const refused = await store.append('alice', '/user/queue/chat', streamMessage('m2')).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(refused?.message).to.match(/offline message on 0 of 1 Redis replicas/);

    process.kill(replicaPid!, 'SIGCONT');
    await store.append('alice', '/user/queue/chat', streamMessage('m3'));
    const taken = (await store.take('alice', '/user/queue/chat')).map((m) => m.id);
    // m2 reached the primary, it was just not confirmed as replicated: it may be there (its sender
    // sends it again anyway); m1 and m3 are, in order.
    expect(taken.filter((id) => id !== 'm2')).to.deep.equal(['m1', 'm3']);
    await store.close();
  });
});

/** A Redis with Sentinel of the test's own, a client through the sentinels, and the replica's pid. */
async function sentinelWithReplica(
  name: string,
): Promise<{ layout: RedisSentinelLayout; redis: Redis; replicaPid: number }> {
  const layout = await startRedisSentinel(name);
  const redis = new Redis({ sentinels: layout.sentinels.split(',').map(hostPort), name: layout.name });
  // The replica: named by the primary, its pid by itself (a child of this test's layout).
  const replication = await redis.info('replication');
  const port = Number(/slave0:.*port=(\d+)/.exec(replication)?.[1]);
  const replica = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await replica.connect();
  const replicaPid = Number(/process_id:(\d+)/.exec(await replica.info('server'))?.[1]);
  replica.disconnect();
  expect(replicaPid).to.be.greaterThan(0);
  return { layout, redis, replicaPid };
}

function hostPort(text: string): { host: string; port: number } {
  const [host, port] = text.split(':');
  return { host: host!, port: Number(port) };
}
