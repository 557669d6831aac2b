import { performance } from 'node:perf_hooks';

/** Frame handling one turn of the event loop may take before the rest waits for the next. */
export const BUDGET_MS = 10;

/** What the pacer runs: a session reading what its socket received. */
export interface PacedReader {
  /** Handles one WebSocket message (decode, dispatch). */
  readChunk(chunk: Buffer): void;
  /** Stops and restarts reading the socket while its messages wait for their turn. */
  pauseReading(): void;
  resumeReading(): void;
}

/**
 * Spreads the node's inbound STOMP work over turns of the event loop. One turn can hand a node a
 * thousand readable sockets at once (a reconnect storm: CONNECTs and SUBSCRIBEs of every client a
 * dead node had); handled in that turn, they hold the loop for a second, and every timer, heart-beat
 * and delivery of the node's other sessions waits behind them. Past BUDGET_MS of frame handling in
 * one turn, a message waits in a queue instead, and its session stops being read until its turn
 * (TCP pushes back, as with flow control); the queue is worked through in slices of BUDGET_MS, one
 * per turn, so timers and I/O run between them. Messages keep their order: while anything waits,
 * everything new waits behind it. An idle node pays two clock reads per message.
 */
export class InboundPacer {
  private spentMs = 0;
  private turnEndQueued = false;
  private readonly waiting: ({ reader: PacedReader; chunk: Buffer } | undefined)[] = [];
  private head = 0;
  /** Readers with messages in the queue, and how many: new messages of theirs queue too. */
  private readonly waitingReaders = new Map<PacedReader, number>();
  private draining = false;

  constructor(
    /** Called for each message that waits (a metric). */
    private readonly onWait: () => void = () => {},
    private readonly budgetMs = BUDGET_MS,
  ) {}

  /** Handles `chunk` now if this turn has time left and nothing waits; else queues it. */
  take(reader: PacedReader, chunk: Buffer): void {
    if (this.head === this.waiting.length && this.spentMs < this.budgetMs) {
      const start = performance.now();
      try {
        reader.readChunk(chunk);
      } finally {
        this.charge(performance.now() - start);
      }
      return;
    }
    this.waiting.push({ reader, chunk });
    this.onWait();
    const queued = this.waitingReaders.get(reader) ?? 0;
    this.waitingReaders.set(reader, queued + 1);
    if (queued === 0) reader.pauseReading();
    if (!this.draining) {
      this.draining = true;
      setImmediate(this.drain);
    }
  }

  /** Does `reader` have messages waiting? (Its socket stays paused until they are handled.) */
  waits(reader: PacedReader): boolean {
    return this.waitingReaders.has(reader);
  }

  /** Messages waiting now (for metrics and tests). */
  get backlog(): number {
    return this.waiting.length - this.head;
  }

  private charge(ms: number): void {
    this.spentMs += ms;
    if (this.turnEndQueued) return;
    this.turnEndQueued = true;
    // After this turn's I/O callbacks (setImmediate runs once the poll phase is over).
    setImmediate(this.turnEnded);
  }

  private readonly turnEnded = (): void => {
    this.turnEndQueued = false;
    this.spentMs = 0;
  };

  /** One slice of the queue per turn. */
  private readonly drain = (): void => {
    const start = performance.now();
    while (this.head < this.waiting.length && performance.now() - start < this.budgetMs) {
      const { reader, chunk } = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined;
      const left = this.waitingReaders.get(reader)! - 1;
      if (left > 0) this.waitingReaders.set(reader, left);
      else {
        this.waitingReaders.delete(reader);
        // Its next message arrives in a later I/O callback, after this one is handled.
        reader.resumeReading();
      }
      try {
        reader.readChunk(chunk);
      } catch {
        // a reader handles its own errors; one must not stop the others
      }
    }
    if (this.head < this.waiting.length) {
      // A long storm keeps the queue busy: its handled head goes, not only once it is empty.
      if (this.head >= 4096) {
        this.waiting.splice(0, this.head);
        this.head = 0;
      }
      setImmediate(this.drain);
      return;
    }
    this.waiting.length = 0;
    this.head = 0;
    this.draining = false;
  };
}
