import type { Frame } from '../../protocol/index.js';
import { RelayError } from '../errors.js';

/** A session's open transactions: the SEND, ACK and NACK frames each holds until COMMIT or ABORT. */
export class Transactions {
  private readonly open = new Map<string, Frame[]>();

  /** @param maxFrames MAX_TRANSACTION_FRAMES: a transaction past it is the client's error */
  constructor(private readonly maxFrames: number) {}

  begin(tx: string): void {
    if (this.open.has(tx)) throw new RelayError('UNKNOWN_TRANSACTION', `transaction '${tx}' is already open`);
    this.open.set(tx, []);
  }

  enlist(tx: string, frame: Frame): void {
    const frames = this.open.get(tx);
    if (!frames) throw new RelayError('UNKNOWN_TRANSACTION', `no open transaction '${tx}'`);
    if (frames.length >= this.maxFrames) {
      throw new RelayError('TRANSACTION_TOO_LARGE', `a transaction may hold at most ${this.maxFrames} frames`);
    }
    frames.push(frame);
  }

  /** Ends the transaction (COMMIT or ABORT) and gives back its frames in the order they were sent. */
  take(tx: string): Frame[] {
    const frames = this.open.get(tx);
    if (!frames) throw new RelayError('UNKNOWN_TRANSACTION', `no open transaction '${tx}'`);
    this.open.delete(tx);
    return frames;
  }

  clear(): void {
    this.open.clear();
  }
}
