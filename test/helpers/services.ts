import net from 'node:net';
import { randomBytes } from 'node:crypto';

/** Where the tests find the machine's services. Override for a laptop with other ports. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

const HOW_TO_START: Record<'redis' | 'rabbitmq', string> = {
  redis: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
  rabbitmq: 'rabbitmq-server -detached',
};

const reachable = new Map<string, Promise<boolean>>();

function probe(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port), timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Call in a suite's `before`: skips the suite, loudly, when the service is not reachable; with
 * CI=true a missing service fails the run instead.
 */
export async function requireService(ctx: Mocha.Context, service: 'redis' | 'rabbitmq'): Promise<void> {
  const url = service === 'redis' ? TEST_REDIS_URL : TEST_AMQP_URL;
  let check = reachable.get(url);
  if (!check) {
    check = probe(url);
    reachable.set(url, check);
  }
  if (await check) return;
  const what = `${service} is not reachable at ${new URL(url).host}`;
  if (process.env.CI === 'true') throw new Error(`${what}; CI needs it (start it: ${HOW_TO_START[service]})`);
  console.warn(
    `\n  !!! SKIPPED "${ctx.test?.parent?.fullTitle() ?? 'suite'}": ${what}.\n  !!! Start it with: ${HOW_TO_START[service]}\n`,
  );
  ctx.skip();
}

/** A namespace of this test run's own, so runs never see each other's keys or queues. */
export function uniquePrefix(label = 't'): string {
  return `test-${label}-${process.pid}-${randomBytes(3).toString('hex')}:`;
}
