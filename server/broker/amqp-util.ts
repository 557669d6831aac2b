import type { ChannelModel, Message } from 'amqplib';
import { decodeRecords, type EnvelopeRecord } from '../relay/relay-envelope.js';

/** pino-compatible: a pino `Logger` fits. */
export interface BrokerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export const NO_LOG: BrokerLog = { info() {}, warn() {}, error() {}, debug() {} };

/** The broker was closed before the message was confirmed: it was not accepted. */
export class BrokerClosedError extends Error {
  override readonly name = 'BrokerClosedError';
  constructor(what = 'RabbitBroker is closed') {
    super(what);
  }
}

/**
 * The relay messages of an AMQP message: one envelope (`messageId` is its id) or a batch. Throws
 * when nothing in it can be read; a single bad record of a batch comes back as an error record.
 */
export function decodeDelivery(raw: Message): EnvelopeRecord[] {
  return decodeRecords(asString(raw.properties.messageId), raw.content);
}

export function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs a channel operation that may find the channel closed: RabbitMQ requeues whatever was not acked. */
export function safely(f: () => void): void {
  try {
    f();
  } catch {
    // The channel closed: nothing to do.
  }
}

/** Logs `conn`'s errors, and tells `onBlocked` when RabbitMQ blocks or unblocks publishing (a resource alarm). */
export function watchConnection(conn: ChannelModel, log: BrokerLog, onBlocked: (blocked: boolean) => void): void {
  conn.on('error', (err: Error) => log.warn({ err: errorMessage(err) }, 'RabbitMQ connection error'));
  conn.on('blocked', (reason: string) => {
    onBlocked(true);
    log.warn({ reason }, 'RabbitMQ blocked publishing (resource alarm)');
  });
  conn.on('unblocked', () => {
    onBlocked(false);
    log.info({}, 'RabbitMQ unblocked publishing');
  });
}

export function withHeartbeat(url: string): string {
  const u = new URL(url);
  // Notice a dead peer within ~20 s rather than the server's default of 60 s per beat.
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', '10');
  return u.toString();
}

export function safeHost(url: string): string {
  return new URL(url).host;
}

/** The pause before reconnect attempt `attempt` (1, 2, …): doubling from `minMs`, capped at `maxMs`, ±20 % jitter. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30));
  return Math.min(maxMs, Math.round(base * (0.8 + 0.4 * Math.random())));
}

/** Waits for `p` to settle, at most `ms`. Never rejects. */
export async function waitAtMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Pauses that `wake()` cuts short (a reconnect back-off that `close()` ends at once). */
export class WakeablePause {
  private wakeUp: (() => void) | undefined;

  for(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  wake(): void {
    this.wakeUp?.();
  }
}
