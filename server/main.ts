import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { createNode } from './node.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel, { node: config.nodeId });
  if (config.authMode === 'dev') log.warn('AUTH_MODE=dev: the CONNECT login header is trusted as the user id; not for production');
  let node;
  try {
    node = await createNode(config, { log });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const port = await node.listen();
  log.info({ port, host: config.host, mode: config.mode, ws: config.wsPath }, `stomp-relay listening on http://localhost:${port} (STOMP at ws://localhost:${port}${config.wsPath})`);
  void node.ready().then(() => log.info('ready'));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    const deadline = setTimeout(() => {
      log.error('drain did not finish in time; exiting');
      process.exit(1);
    }, config.drainTimeoutMs + 2000);
    deadline.unref();
    node.drain().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`stomp-relay failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
