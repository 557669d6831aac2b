import { startCluster, type Cluster, type ClusterOptions } from './cluster.js';
import { requireService } from './services.js';

export interface UseClusterOptions extends ClusterOptions {
  /** startCluster's `env`: what every node's environment adds or overrides. */
  readonly env?: Record<string, string>;
  /** A fresh cluster for every test (beforeEach/afterEach) instead of one for the whole suite (before/after). */
  readonly perTest?: boolean;
  /** After the services check, before the nodes start: what `nodeEnv` points at (the suite's TCP proxies). */
  readonly beforeStart?: (ctx: Mocha.Context) => Promise<void>;
  /**
   * After each test, once a failed test's node logs are printed and before the cluster's own
   * clients disconnect (with `perTest`, before it stops): restore proxies, stop the suite's clients.
   */
  readonly afterEach?: () => Promise<void>;
  /** Before the cluster stops, only if it started: a last look at it, or closing what stands in front of it. */
  readonly beforeStop?: (cluster: Cluster) => Promise<void>;
}

/**
 * Call at the top of a `describe`: registers the hooks every cluster suite needs (skip without
 * Redis or RabbitMQ, start `n` nodes, print a failed test's node logs, disconnect the clients of
 * `cluster.connect`, stop and clean up) and returns the suite's cluster. Its hooks run before any
 * the suite registers after the call, so a suite's own `before` already sees the nodes and its
 * own `after` runs once they are stopped.
 */
export function useCluster(n: number, options: UseClusterOptions = {}): Cluster {
  const { env, perTest = false, beforeStart, afterEach: afterEachTest, beforeStop, nodeEnv } = options;
  let current: Cluster | undefined;

  async function start(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await requireService(this, 'redis');
    await requireService(this, 'rabbitmq');
    await beforeStart?.(this);
    current = await startCluster(n, env, undefined, { nodeEnv });
  }
  async function cleanUpTest(this: Mocha.Context): Promise<void> {
    current?.printLogsIfFailed(this);
    await afterEachTest?.();
    await current?.disconnectClients();
  }
  async function stop(): Promise<void> {
    const cluster = current;
    current = undefined;
    if (!cluster) return;
    await beforeStop?.(cluster);
    await cluster.stop();
  }

  if (perTest) {
    beforeEach(start);
    afterEach(async function () {
      this.timeout(30_000);
      await cleanUpTest.call(this);
      await stop();
    });
  } else {
    before(start);
    afterEach(cleanUpTest);
    after(async function () {
      this.timeout(30_000);
      await stop();
    });
  }
  return runningView(() => {
    if (!current)
      throw new Error('the cluster is not running: use it in tests and hooks, not while the suite is declared');
    return current;
  });
}

/** A Cluster that forwards to the one running now, so that tests keep writing `cluster.connect(…)`. */
function runningView(running: () => Cluster): Cluster {
  return {
    get keyPrefix() {
      return running().keyPrefix;
    },
    get amqpPrefix() {
      return running().amqpPrefix;
    },
    get nodes() {
      return running().nodes;
    },
    get redis() {
      return running().redis;
    },
    connect: (node, login) => running().connect(node, login),
    disconnectClients: () => running().disconnectClients(),
    printLogsIfFailed: (ctx) => running().printLogsIfFailed(ctx),
    relayReport: () => running().relayReport(),
    stop: (graceMs) => running().stop(graceMs),
  };
}
