import { loadConfig, type Config } from '../../server/config.js';
import { createNode, type NodeDeps, type RelayNode } from '../../server/node.js';

export interface StartedNode {
  readonly node: RelayNode;
  readonly port: number;
  readonly url: string;
  readonly http: string;
  stop(): Promise<void>;
}

/** A node in this process on a free port (embedded unless env says otherwise). */
export async function startNode(
  env: Record<string, string> = {},
  overrides: Partial<NodeDeps> = {},
): Promise<StartedNode> {
  const config: Config = loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env });
  const node = await createNode(config, overrides);
  const port = await node.listen();
  await node.ready();
  return {
    node,
    port,
    url: `ws://127.0.0.1:${port}${config.wsPath}`,
    http: `http://127.0.0.1:${port}`,
    stop: () => node.close(),
  };
}
