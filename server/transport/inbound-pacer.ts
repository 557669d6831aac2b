import { performance } from 'node:perf_hooks';

/** Inbound work one turn of the event loop may take before the rest waits for the next. */
export const BUDGET_MS = 10;

/** What the pacer runs for a session: reading what its socket received. */
export interface PacedReader {
  /** Handles one WebSocket message (decode, dispatch). */
  readChunk(chunk: Buffer): void;
  /** Stops and restarts reading the socket while its messages wait for their turn. */
  pauseReading(): void;
  resumeReading(): void;
}

interface Waiting {
  readonly run: () => void;
  readonly reader: PacedReader | undefined;
}

/**
 * Spreads the node's inbound work over turns of the event loop. One turn can hand a node a
 * thousand readable sockets at once (a reconnect storm: the upgrades, CONNECTs and SUBSCRIBEs of
 * every client a dead node had); handled in that turn, they hold the loop for a second, and every
 * timer, heart-beat and delivery of the node's other sessions waits behind them. Past BUDGET_MS of
 * inbound work in one turn, an upgrade or a message waits in a queue instead, its session unread
 * until its turn (TCP pushes back, as with flow control); the queue is worked through BUDGET_MS a
 * turn, so timers and I/O run between. Work keeps its order: while anything waits, everything new
 * waits behind it. An idle node pays two clock reads per message.
 */
export class InboundPacer {
  private spentMs = 0;
  private turnEndQueued = false;
  private readonly waiting: (Waiting | undefined)[] = [];
  private head = 0;
  /** Readers with messages in the queue, and how many: new messages of theirs queue too. */
  private readonly waitingReaders = new Map<PacedReader, number>();
  private draining = false;

  constructor(
    private readonly hooks: {
      /** Each piece of work that waits (a metric). */
      readonly waited?: () => void;
      /** Work that threw while the queue was worked through (work handles its own errors: a bug). */
      readonly failed?: (err: unknown) => void;
    } = {},
    private readonly budgetMs = BUDGET_MS,
  ) {}

  /** Handles `chunk` now if this turn has time left and nothing waits; else queues it. */
  take(reader: PacedReader, chunk: Buffer): void {
    if (this.hasTime()) {
      const start = performance.now();
      try {
        reader.readChunk(chunk);
      } finally {
        this.charge(start);
      }
      return;
    }
    const queued = this.waitingReaders.get(reader) ?? 0;
    this.waitingReaders.set(reader, queued + 1);
    if (queued === 0) reader.pauseReading();
    this.queue({ run: () => reader.readChunk(chunk), reader });
  }

  /** Runs `task` now if this turn has time left and nothing waits; else queues it. It must not throw. */
  run(task: () => void): void {
    if (!this.hasTime()) {
      this.queue({ run: task, reader: undefined });
      return;
    }
    const start = performance.now();
    try {
      task();
    } finally {
      this.charge(start);
    }
  }

  /** Does `reader` have messages waiting? (Its socket stays paused until they are handled.) */
  waits(reader: PacedReader): boolean {
    return this.waitingReaders.has(reader);
  }

  /**
   * Hands `reader` its waiting messages now, in order: its connection closed, and what the client
   * sent before closing is handled as it would have been without the wait (a SEND is relayed).
   */
  flush(reader: PacedReader): void {
    if (!this.waitingReaders.has(reader)) return;
    this.waitingReaders.delete(reader);
    for (let i = this.head; i < this.waiting.length; i++) {
      const w = this.waiting[i];
      if (w?.reader !== reader) continue;
      this.waiting[i] = undefined;
      this.runQueued(w);
    }
  }

  /** Work waiting now (for tests). */
  get backlog(): number {
    return this.waiting.length - this.head;
  }

  private hasTime(): boolean {
    return this.head === this.waiting.length && this.spentMs < this.budgetMs;
  }

  /** Counts the work since `start` against this turn. */
  private charge(start: number): void {
    this.spentMs += performance.now() - start;
    if (this.turnEndQueued) return;
    this.turnEndQueued = true;
    // After this turn's I/O callbacks (setImmediate runs once the poll phase is over).
    setImmediate(this.turnEnded);
  }

  private queue(w: Waiting): void {
    this.waiting.push(w);
    this.hooks.waited?.();
    if (!this.draining) {
      this.draining = true;
      setImmediate(this.drain);
    }
  }

  private readonly turnEnded = (): void => {
    this.turnEndQueued = false;
    this.spentMs = 0;
  };

  /**
   * One slice of the queue per turn, in the check phase: the next turn's timers and I/O come
   * before the next slice, and that turn's poll has a budget of its own.
   */
  private readonly drain = (): void => {
    const start = performance.now();
    try {
      while (this.head < this.waiting.length && performance.now() - start < this.budgetMs) {
        const w = this.waiting[this.head];
        this.waiting[this.head++] = undefined;
        if (w === undefined) continue; // flushed at its reader's close
        this.runQueued(w);
        if (w.reader) this.handedOver(w.reader);
      }
    } finally {
      this.sliceDone();
    }
  };

  private runQueued(w: Waiting): void {
    try {
      w.run();
    } catch (err) {
      this.hooks.failed?.(err);
    }
  }

  private sliceDone(): void {
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
  }

  /**
   * One message of `reader` was handled: after its last, the reader is read again. Only then: a
   * transport may hand over what it held while paused at once (SockJS), and that comes after.
   */
  private handedOver(reader: PacedReader): void {
    const left = this.waitingReaders.get(reader);
    if (left === undefined) return; // flushed
    if (left > 1) {
      this.waitingReaders.set(reader, left - 1);
      return;
    }
    this.waitingReaders.delete(reader);
    try {
      reader.resumeReading();
    } catch (err) {
      this.hooks.failed?.(err);
    }
  }
}
