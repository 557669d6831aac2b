import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; quiet by default (info: start, stop, failures). */
export function createLogger(level: string, bindings: Record<string, string> = {}): Logger {
  return pino({ level, base: bindings, timestamp: pino.stdTimeFunctions.isoTime });
}

export const silentLogger: Logger = pino({ level: 'silent' });
