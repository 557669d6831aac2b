import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ConfigError, loadConfig } from '../../server/config.js';
import { openFileLimit } from '../../server/open-file-limit.js';

const run = promisify(execFile);

describe('config', () => {
  it('starts embedded with the documented defaults', () => {
    const c = loadConfig({});
    expect(c.mode).to.equal('embedded');
    expect(c.port).to.equal(8080);
    expect(c.wsPath).to.equal('/ws');
    expect(c.keyPrefix).to.equal('stomp:');
    expect(c.amqpPrefix).to.equal('stomp.');
    expect(c.heartbeat).to.deep.equal([10000, 10000]);
    expect(c.limits.maxFrameBytes).to.equal(65536);
    expect(c.nodeId).to.match(/^[A-Za-z0-9][A-Za-z0-9._-]+$/);
    expect(loadConfig({}).nodeId).to.not.equal(c.nodeId);
  });

  it('derives MAX_CONNECTIONS from the open-file limit unless it is set', () => {
    const limited = (n: number | undefined) => ({ openFileLimit: () => n });
    expect(loadConfig({}, limited(20_000)).limits.maxConnections).to.equal(19_900);
    expect(loadConfig({}, limited(1_048_576)).limits.maxConnections).to.equal(1_048_476);
    expect(loadConfig({}, limited(undefined)).limits.maxConnections).to.equal(20_000, 'where the limit cannot be read');
    expect(loadConfig({ MAX_CONNECTIONS: '500' }, limited(20_000)).limits.maxConnections).to.equal(500);
    expect(() => loadConfig({ MAX_CONNECTIONS: 'lots' })).to.throw(ConfigError, /MAX_CONNECTIONS.*an integer or auto/);
    // This process's own limit, as /proc/self/limits says (20,000 on the machines CI runs on).
    const own = openFileLimit();
    if (own !== undefined) expect(loadConfig({}).limits.maxConnections).to.equal(Math.max(1, own - 100));
  });

  it('keeps a Yjs document below what a session may queue: 512 KiB, half of a smaller MAX_OUTBOUND_BYTES, and refuses a set value at or above it', () => {
    expect(loadConfig({}).yjs.maxDocBytes).to.equal(524_288);
    expect(loadConfig({ MAX_OUTBOUND_BYTES: '65536' }).yjs.maxDocBytes).to.equal(32_768);
    expect(loadConfig({ YJS_MAX_DOC_BYTES: '10000', MAX_OUTBOUND_BYTES: '65536' }).yjs.maxDocBytes).to.equal(10_000);
    expect(() => loadConfig({ YJS_MAX_DOC_BYTES: '65536', MAX_OUTBOUND_BYTES: '65536' })).to.throw(
      ConfigError,
      /YJS_MAX_DOC_BYTES.*below MAX_OUTBOUND_BYTES/,
    );
  });

  it('reads the soft open-file limit from /proc/self/limits', () => {
    const text =
      'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n';
    expect(openFileLimit(() => text)).to.equal(20_000);
    expect(openFileLimit(() => text.replace('20000                20000', 'unlimited            unlimited'))).to.equal(
      undefined,
    );
    expect(
      openFileLimit(() => {
        throw new Error('ENOENT');
      }),
    ).to.equal(undefined);
  });

  it('keeps no history by default, and reads HISTORY_* when set', () => {
    expect(loadConfig({}).history).to.deep.equal({ destinations: [], size: 300, ttlMs: 600_000 });
    const c = loadConfig({
      HISTORY_DESTINATIONS: ' /user/*/queue/chat, /topic/docs/**,,',
      HISTORY_SIZE: '50',
      HISTORY_TTL_MS: '60000',
    });
    expect(c.history).to.deep.equal({
      destinations: ['/user/*/queue/chat', '/topic/docs/**'],
      size: 50,
      ttlMs: 60_000,
    });
    expect(Object.isFrozen(c.history.destinations)).to.equal(true);
  });

  it('reads the members of a RabbitMQ cluster from AMQP_URL, and quorum node queues by default', () => {
    const c = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', AMQP_URL: 'amqp://a:5672, amqp://b:5673 ,amqps://c' });
    expect(c.amqpUrls).to.deep.equal(['amqp://a:5672', 'amqp://b:5673', 'amqps://c']);
    expect(c.amqpUrl).to.equal('amqp://a:5672');
    expect(c.relayQueueType).to.equal('quorum');
    expect(loadConfig({ RELAY_QUEUE_TYPE: 'classic' }).relayQueueType).to.equal('classic');
  });

  it('reads Redis Sentinel instead of REDIS_URL, and refuses a bad list or a missing name naming the variable', () => {
    const c = loadConfig({
      REDIS_SENTINELS: '127.0.0.1:26379, localhost:26380,[::1]:26381',
      REDIS_SENTINEL_NAME: 'relay-primary',
      AMQP_URL: 'amqp://a',
    });
    expect(c.mode).to.equal('cluster');
    expect(c.redisSentinels).to.deep.equal({
      name: 'relay-primary',
      hosts: [
        { host: '127.0.0.1', port: 26379 },
        { host: 'localhost', port: 26380 },
        { host: '::1', port: 26381 },
      ],
    });
    expect(refused({ REDIS_SENTINELS: '127.0.0.1', REDIS_SENTINEL_NAME: 'p', AMQP_URL: 'amqp://a' })).to.match(
      /invalid REDIS_SENTINELS: "127.0.0.1" is not host:port/,
    );
    expect(refused({ REDIS_SENTINELS: '127.0.0.1:26379', AMQP_URL: 'amqp://a' })).to.match(
      /invalid REDIS_SENTINEL_NAME/,
    );
    expect(refused({ REDIS_SENTINEL_NAME: 'p' })).to.match(/invalid REDIS_SENTINEL_NAME: needs REDIS_SENTINELS/);
    expect(
      refused({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'p', REDIS_URL: 'redis://x', AMQP_URL: 'amqp://a' }),
    ).to.match(/invalid REDIS_SENTINELS: set one of REDIS_URL, REDIS_SENTINELS, not several/);
    expect(refused({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'p' })).to.match(/invalid AMQP_URL/);
  });

  it('reads a Redis Cluster instead of REDIS_URL, and refuses a bad list or a second way to Redis naming the variable', () => {
    const c = loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,redis-2:7001', AMQP_URL: 'amqp://a' });
    expect(c.mode).to.equal('cluster');
    expect(c.redisClusterNodes).to.deep.equal([
      { host: '127.0.0.1', port: 7000 },
      { host: 'redis-2', port: 7001 },
    ]);
    expect(c.redisUrl).to.equal(undefined);
    expect(refused({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,', AMQP_URL: 'amqp://a' })).to.match(
      /invalid REDIS_CLUSTER_NODES: "" is not host:port/,
    );
    expect(refused({ REDIS_CLUSTER_NODES: 'a:99999', AMQP_URL: 'amqp://a' })).to.match(/invalid REDIS_CLUSTER_NODES/);
    expect(refused({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://x', AMQP_URL: 'amqp://a' })).to.match(
      /invalid REDIS_CLUSTER_NODES: set one of REDIS_URL, REDIS_CLUSTER_NODES/,
    );
    expect(refused({ REDIS_CLUSTER_NODES: 'a:1' })).to.match(/invalid AMQP_URL/);
    expect(refused({ REDIS_CLUSTER_NODES: 'a:1', AMQP_URL: 'amqp://a', REDIS_WAIT_REPLICAS: '1' })).to.match(
      /invalid REDIS_WAIT_REPLICAS: is for REDIS_URL or REDIS_SENTINELS/,
    );
  });

  it('reads REDIS_WAIT_REPLICAS (default 0) and refuses a bad value naming the variable', () => {
    expect(loadConfig({}).redisWaitReplicas).to.equal(0);
    const c = loadConfig({
      REDIS_SENTINELS: 'a:1',
      REDIS_SENTINEL_NAME: 'p',
      AMQP_URL: 'amqp://a',
      REDIS_WAIT_REPLICAS: '2',
    });
    expect(c.redisWaitReplicas).to.equal(2);
    for (const bad of ['-1', 'one', '17'])
      expect(() => loadConfig({ REDIS_WAIT_REPLICAS: bad })).to.throw(ConfigError, /invalid REDIS_WAIT_REPLICAS/);
  });

  it('keeps relayed messages persistent unless RELAY_PERSISTENT=false', () => {
    expect(loadConfig({}).relayPersistent).to.equal(true);
    expect(loadConfig({ RELAY_PERSISTENT: 'false' }).relayPersistent).to.equal(false);
  });

  it('is cluster mode with both URLs, and refuses only one of them', () => {
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', AMQP_URL: 'amqp://127.0.0.1' }).mode).to.equal('cluster');
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' })).to.throw(ConfigError, 'AMQP_URL');
  });

  const bad: [string, string, RegExp][] = [
    ['PORT', '70000', /invalid PORT: "70000" is not a port/],
    ['PORT', 'abc', /invalid PORT/],
    ['REDIS_URL', 'not a url', /invalid REDIS_URL/],
    ['AMQP_URL', 'http://x', /invalid AMQP_URL/],
    ['AUTH_MODE', 'magic', /invalid AUTH_MODE: "magic" is not one of dev, jwt/],
    ['LOG_LEVEL', 'loud', /invalid LOG_LEVEL/],
    ['HEARTBEAT', '10000, 10000', /invalid HEARTBEAT/],
    ['NODE_ID', 'a:b*', /invalid NODE_ID/],
    ['KEY_PREFIX', 'x y', /invalid KEY_PREFIX/],
    ['MAX_FRAME_BYTES', '-1', /invalid MAX_FRAME_BYTES/],
    [
      'HISTORY_DESTINATIONS',
      '/topic/docs/**,/app/**',
      /invalid HISTORY_DESTINATIONS: "\/app\/\*\*" is not a pattern of \/topic\/, \/queue\/, \/user\/ destinations/,
    ],
    ['HISTORY_DESTINATIONS', '/topic/{doc', /invalid HISTORY_DESTINATIONS: "\/topic\/\{doc": unbalanced "\{"/],
    ['HISTORY_DESTINATIONS', '/topic/{id:(a+)+}', /invalid HISTORY_DESTINATIONS: .*nested quantifiers/],
    ['HISTORY_SIZE', '0', /invalid HISTORY_SIZE: "0" is not an integer \(1-100000\)/],
    ['HISTORY_TTL_MS', '10ms', /invalid HISTORY_TTL_MS/],
    ['AMQP_URL', 'amqp://a:5672,,amqp://b:5672', /invalid AMQP_URL: .* has an empty member/],
    ['AMQP_URL', 'amqp://a:5672,http://b', /invalid AMQP_URL: "http:" is not one of amqp:, amqps:/],
    ['RELAY_QUEUE_TYPE', 'stream', /invalid RELAY_QUEUE_TYPE: "stream" is not one of quorum, classic/],
    ['RELAY_PERSISTENT', 'yes', /invalid RELAY_PERSISTENT: "yes" is not one of true, false/],
  ];
  for (const [name, value, message] of bad) {
    it(`refuses ${name}=${JSON.stringify(value)} naming the variable`, () => {
      const env: Record<string, string> = { [name]: value };
      if (name === 'REDIS_URL') env.AMQP_URL = 'amqp://127.0.0.1';
      if (name === 'AMQP_URL') env.REDIS_URL = 'redis://127.0.0.1';
      expect(() => loadConfig(env))
        .to.throw(ConfigError)
        .with.property('message')
        .that.matches(message);
    });
  }

  it('stops start-up with one line and exit code 2 on a bad value', async () => {
    const err = await run(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      env: { ...process.env, PORT: '99999' },
    }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).to.equal(2);
    expect(err?.stderr.trim()).to.equal('invalid PORT: "99999" is not a port (0-65535)');
  });

  it('stops start-up naming HISTORY_DESTINATIONS and the bad pattern, exit code 2', async () => {
    const err = await run(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      env: { ...process.env, HISTORY_DESTINATIONS: '/topic/ok,/topic/{x' },
    }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).to.equal(2);
    expect(err?.stderr.trim()).to.equal('invalid HISTORY_DESTINATIONS: "/topic/{x": unbalanced "{" in segment "{x"');
  });
});

/** The one-line error loadConfig refuses `env` with (a ConfigError), or 'accepted'. */
function refused(env: Record<string, string>): string {
  try {
    loadConfig(env);
    return 'accepted';
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
}
