import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Where the logs of a node process go: stdout, through process.stdout (never blocking the event
 * loop on a slow reader), made harmless when the reader is gone. With `npm start | cat`, Ctrl-C
 * ends the reader too; pino's own stdout stream then retries write(1) on EPIPE forever while the
 * process exits, and nothing but SIGKILL ends it. Here a broken output stops logging, nothing else.
 */
export class LogOutput implements DestinationStream {
  #broken = false;

  /** `maxBufferedBytes`: what a reader that stopped reading may make the node hold; lines beyond are dropped. */
  constructor(
    private readonly stream: NodeJS.WritableStream & { readonly writableLength: number } = process.stdout,
    private readonly maxBufferedBytes = 4 * 1024 * 1024,
  ) {
    stream.on('error', () => {
      this.#broken = true;
    });
  }

  write(line: string): void {
    if (this.#broken || this.stream.writableLength > this.maxBufferedBytes) return;
    this.stream.write(line);
  }

  /** Resolves once everything written has left the process, the output broke, or `timeoutMs` passed. */
  flushed(timeoutMs = 1000): Promise<void> {
    if (this.#broken || this.stream.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stream.off('drain', done);
        this.stream.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.stream.once('drain', done);
      this.stream.once('error', done);
    });
  }
}

/** Structured JSON logs; quiet by default (info: start, stop, failures). */
export function createLogger(
  level: string,
  bindings: Record<string, string> = {},
  output: DestinationStream = new LogOutput(),
): Logger {
  return pino({ level, base: bindings, timestamp: pino.stdTimeFunctions.isoTime }, output);
}

/** Writes nowhere: pino's default would open a stdout stream that flushes at exit. */
export const silentLogger: Logger = pino({ level: 'silent' }, { write: () => undefined });
