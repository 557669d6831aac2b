import { Redis } from 'ioredis';
import { deleteRabbitNames, deleteRedisKeys } from '../helpers/cleanup.js';
import { requireService, TEST_AMQP_URL, TEST_REDIS_URL, uniquePrefix } from '../helpers/services.js';
import { startNode } from '../helpers/start-node.js';
import { resumeClientSuite, type ResumeServer } from './resume.suite.js';

/** A node keeping history for `/topic/docs/**`; messages published with its own template, as a backend's would be. */
async function nodeServer(
  historySize: number,
  env: Record<string, string> = {},
  cleanUp?: () => Promise<void>,
): Promise<ResumeServer> {
  const started = await startNode({
    HISTORY_DESTINATIONS: '/topic/docs/**',
    HISTORY_SIZE: String(historySize),
    ...env,
  });
  return {
    url: started.url,
    publish: (destination, body) => started.node.template.convertAndSend(destination, body),
    close: async () => {
      await started.stop();
      await cleanUp?.();
    },
  };
}

resumeClientSuite('an embedded node', ({ historySize }) => nodeServer(historySize));

describe('resume against a cluster node (history in Redis)', () => {
  before(async function () {
    await requireService(this, 'redis');
    await requireService(this, 'rabbitmq');
  });

  resumeClientSuite('a cluster node', async ({ historySize }) => {
    const prefix = uniquePrefix('resume');
    const nodeId = `resume-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    return nodeServer(
      historySize,
      { REDIS_URL: TEST_REDIS_URL, AMQP_URL: TEST_AMQP_URL, KEY_PREFIX: prefix, NODE_ID: nodeId },
      async () => {
        const redis = new Redis(TEST_REDIS_URL);
        await deleteRedisKeys(redis, prefix).finally(() => redis.quit());
        await deleteRabbitNames(TEST_AMQP_URL, prefix.replace(/:$/, '.'), [nodeId]);
      },
    );
  });
});
