import type { RelayMessage } from '../relay/relay-message.js';
import type { Subscription } from './subscriptions.js';

export interface Unacked {
  readonly ackId: string;
  readonly sub: Subscription;
  readonly msg: RelayMessage;
}

/**
 * A session's messages delivered on `client` / `client-individual` subscriptions and not yet
 * acknowledged, in delivery order. STOMP 1.2 identifies them by the MESSAGE `ack` header, 1.0/1.1
 * by `message-id` (+ `subscription`).
 */
export class AckTracker {
  private readonly byAckId = new Map<string, Unacked>();
  private readonly perSub = new Map<Subscription, number>();
  private seq = 0;

  nextAckId(): string {
    return String(this.seq++);
  }

  pendingFor(sub: Subscription): number {
    return this.perSub.get(sub) ?? 0;
  }

  add(entry: Unacked): void {
    this.byAckId.set(entry.ackId, entry);
    this.perSub.set(entry.sub, this.pendingFor(entry.sub) + 1);
  }

  /** Finds the entry an ACK/NACK names: by `id` (1.2) or by `message-id` and optional `subscription` (1.0/1.1). */
  find(ids: { ackId?: string; messageId?: string; subscription?: string }): Unacked | undefined {
    if (ids.ackId !== undefined) return this.byAckId.get(ids.ackId);
    for (const entry of this.byAckId.values()) {
      if (entry.msg.id === ids.messageId && (ids.subscription === undefined || entry.sub.id === ids.subscription))
        return entry;
    }
    return undefined;
  }

  /**
   * Removes and returns what an ACK/NACK of `entry` settles: for `client` mode it is cumulative
   * (this message and every earlier one of the subscription), for `client-individual` only it.
   */
  settle(entry: Unacked): Unacked[] {
    const settled: Unacked[] = [];
    if (entry.sub.ackMode === 'client') {
      for (const e of this.byAckId.values()) {
        if (e.sub === entry.sub) settled.push(e);
        if (e === entry) break;
      }
    } else {
      settled.push(entry);
    }
    for (const e of settled) this.remove(e);
    return settled;
  }

  /** Removes and returns every unacknowledged message of `sub` (unsubscribe), or of all (close). */
  drain(sub?: Subscription): Unacked[] {
    const out = [...this.byAckId.values()].filter((e) => sub === undefined || e.sub === sub);
    for (const e of out) this.remove(e);
    return out;
  }

  private remove(entry: Unacked): void {
    if (!this.byAckId.delete(entry.ackId)) return;
    const left = this.pendingFor(entry.sub) - 1;
    if (left > 0) this.perSub.set(entry.sub, left);
    else this.perSub.delete(entry.sub);
  }
}
