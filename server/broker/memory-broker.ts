import type { Destination, NodeId } from '../ids.js';
import { UnroutableError, type Broker, type ControlSignal, type MessageHandler, type SignalHandler } from './broker.js';
import { signalMessage, splitSignals } from './control-signal.js';
import { compilePattern, type DestinationMatcher } from '../destinations/destination-pattern.js';
import type { RelayMessage } from '../relay/relay-message.js';

/**
 * The broker of the embedded (single-node) mode: there is one node, so "delivering" is calling
 * this node's handler in the same process. A promise resolves once the handler resolved, which
 * is this form's meaning of "accepted"; a handler rejection rejects the call.
 */
export class MemoryBroker implements Broker {
  private onMessage: MessageHandler | undefined;
  private closed = false;
  /** Bound destinations and patterns, each with its matcher. */
  private readonly bindings = new Map<Destination, DestinationMatcher>();

  constructor(readonly nodeId: NodeId) {}

  private signals = 0;

  /** Installs the handlers. Resolves at once; calling it again replaces them. */
  async start(onMessage: MessageHandler, onSignal?: SignalHandler): Promise<void> {
    this.onMessage = splitSignals(onMessage, onSignal);
    this.closed = false;
  }

  /** Hands the signal to this node's handler when it is addressed; other nodes do not exist here. */
  async signal(to: readonly NodeId[] | 'all', signal: ControlSignal): Promise<void> {
    const handler = this.handler();
    if (to === 'all' || to.includes(this.nodeId))
      await handler(signalMessage(signal, this.nodeId, `signal-${++this.signals}`));
  }

  /**
   * Hands `msg` to the handler once if this node is among `nodes` and resolves when the handler
   * did; every other node id is unknown here, so the call then rejects with `UnroutableError`
   * naming them (after the local delivery).
   */
  async sendToNodes(nodes: readonly NodeId[], msg: RelayMessage): Promise<void> {
    const handler = this.handler();
    const unknown = [...new Set(nodes)].filter((n) => n !== this.nodeId);
    if (nodes.includes(this.nodeId)) await handler(msg);
    if (unknown.length > 0) throw new UnroutableError(unknown);
  }

  /** Hands `msg` to the handler if a bound destination or pattern matches it; resolves at once otherwise. */
  async publish(msg: RelayMessage): Promise<void> {
    const handler = this.handler();
    for (const matches of this.bindings.values()) {
      if (matches(msg.destination)) {
        await handler(msg);
        return;
      }
    }
  }

  /** Idempotent per destination. Throws `DestinationPatternError` for an invalid pattern. */
  async bind(destination: Destination): Promise<void> {
    if (!this.bindings.has(destination)) this.bindings.set(destination, compilePattern(destination));
  }

  /** Idempotent per destination. */
  async unbind(destination: Destination): Promise<void> {
    this.bindings.delete(destination);
  }

  /** One process has no queues left behind by other nodes: nothing to take over. */
  async adoptQueue(): Promise<number> {
    return 0;
  }

  /** True between `start` and `close`. */
  isReady(): boolean {
    return this.onMessage !== undefined && !this.closed;
  }

  /** Nothing to declare: one process, no queue another node could take. */
  redeclare(): void {}

  /** Later calls reject until the next `start`. Nothing is queued, so nothing is lost here. */
  async close(): Promise<void> {
    this.closed = true;
  }

  private handler(): MessageHandler {
    if (this.closed) throw new Error('MemoryBroker is closed');
    if (!this.onMessage) throw new Error('MemoryBroker is not started');
    return this.onMessage;
  }
}
