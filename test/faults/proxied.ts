import type { Cluster } from '../helpers/cluster.js';
import { TEST_AMQP_URL, TEST_REDIS_URL } from '../helpers/services.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { useCluster } from '../helpers/use-cluster.js';
import { stopAll } from './support.js';

export interface ProxiedCluster {
  readonly cluster: Cluster;
  /** `proxies[i]` stands between node i+1 and the service: the test cuts, stalls and restores it. */
  readonly proxies: readonly TcpProxy[];
}

/**
 * Call at the top of a `describe`: `useCluster` where each node reaches `service` through a TCP
 * proxy of its own. After each test the proxies are restored and `clients` stopped; the proxies
 * are closed once the nodes are stopped (after each test with `perTest`).
 */
export function useProxiedCluster(
  n: number,
  service: 'redis' | 'rabbitmq',
  clients: { stop(): Promise<void> }[],
  options: { readonly env?: Record<string, string>; readonly perTest?: boolean } = {},
): ProxiedCluster {
  const target = service === 'redis' ? TEST_REDIS_URL : TEST_AMQP_URL;
  const urlVariable = service === 'redis' ? 'REDIS_URL' : 'AMQP_URL';
  const proxies: TcpProxy[] = [];
  const cluster = useCluster(n, {
    ...options,
    beforeStart: async () => {
      for (let i = 0; i < n; i++) proxies.push(await startTcpProxy(target));
    },
    nodeEnv: (i) => ({ [urlVariable]: proxies[i]!.url(target) }),
    afterEach: async () => {
      for (const p of proxies) p.restore();
      await stopAll(clients.splice(0));
    },
  });
  // Registered after useCluster's hooks, so these run once the nodes are stopped.
  const closeProxies = async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  };
  if (options.perTest) afterEach(closeProxies);
  else after(closeProxies);
  return { cluster, proxies };
}
