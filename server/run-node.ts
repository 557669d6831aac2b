import { constants } from 'node:os';
import { ConfigError, loadConfig } from './config.js';
import { flagOf } from './config-vars.js';
import { createLogger, LogOutput } from './log.js';
import { createNode } from './node.js';

/**
 * Prints a configuration error as one line and exits 2 (SPEC §2), naming the flag when the value
 * came from one (`invalid --port: …`), else the variable (`invalid PORT: …`).
 */
function exitOnConfigError(err: unknown, flags: ReadonlySet<string>): void {
  if (err instanceof ConfigError) {
    process.stderr.write(
      `${flags.has(err.variable) ? `invalid ${flagOf(err.variable)}: ${err.reason}` : err.message}\n`,
    );
    process.exit(2);
  }
}

/**
 * Runs a node as this process: loadConfig → createNode → listen, and owns the process's end:
 * SIGINT/SIGTERM drain (SPEC §8), a second signal exits at once, config errors exit 2.
 * `fromFlags`: the variables the command line set, named as flags in errors.
 */
export async function runNode(
  env: Readonly<Record<string, string | undefined>>,
  fromFlags: ReadonlySet<string> = new Set(),
): Promise<void> {
  // A gone reader of our stderr must not turn a one-line config error into a crash.
  process.stderr.on('error', () => undefined);
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    exitOnConfigError(err, fromFlags);
    throw err;
  }
  const output = new LogOutput();
  const log = createLogger(config.logLevel, { node: config.nodeId }, output);
  // The last lines (`stopped`) reach a live reader; a gone or stuck one delays the exit by at most 1 s.
  const exit = (code: number) => void output.flushed(1000).then(() => process.exit(code));
  if (config.authMode === 'dev')
    log.warn('AUTH_MODE=dev: the CONNECT login header is trusted as the user id; not for production');
  let node;
  try {
    node = await createNode(config, { log });
  } catch (err) {
    exitOnConfigError(err, fromFlags);
    throw err;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // The second Ctrl-C means now: no drain, no waiting for logs (e.g. Redis unreachable and the
      // first drain waiting for it). Exit code as a shell reports a signal: 128 + its number.
      process.exit(128 + constants.signals[signal]);
    }
    stopping = true;
    log.info({ signal }, 'draining');
    const deadline = setTimeout(() => {
      log.error('drain did not finish in time; exiting');
      exit(1);
    }, config.drainTimeoutMs + 10_000); // the drain is bounded by DRAIN_TIMEOUT_MS; closing the links takes a few seconds more at worst
    deadline.unref();
    node.drain().then(
      () => {
        log.info('stopped');
        exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'drain failed');
        exit(1);
      },
    );
  };
  // Before the "listening" line: whoever reads it may signal at once, and without a handler the
  // signal would kill the process undrained.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  const port = await node.listen();
  log.info(
    { port, host: config.host, mode: config.mode, ws: config.wsPath },
    `stomp-relay listening on http://localhost:${port} (STOMP at ws://localhost:${port}${config.wsPath})`,
  );
  void node.ready().then(() => log.info('ready'));
}
