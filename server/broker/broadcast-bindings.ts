import type { Channel } from 'amqplib';
import type { Destination } from '../ids.js';
import { addMember, removeMember, type Members } from '../members.js';
import { errorMessage, type BrokerLog } from './amqp-util.js';
import { broadcastBindingKeys } from './rabbit-topology.js';

export interface BroadcastBindingsOptions {
  /** The node's broadcast exchange (the destination of every binding). */
  readonly nodeExchange: string;
  /** The cluster's broadcast exchange (the source). */
  readonly broadcastExchange: string;
  /** The channel to declare on while connected; undefined while not. */
  readonly channel: () => Channel | undefined;
  /** Resolves once connected again; rejects when the broker closes. */
  readonly whenReady: () => Promise<void>;
  readonly log: BrokerLog;
}

/**
 * A node's broadcast bindings (SPEC §5): the binding keys of its subscribed `/topic` and `/queue`
 * destinations, reference-counted per key (two patterns may share one), kept on the server while
 * connected and restored at reconnect. Operations run one at a time, so "resolved" means the
 * server has the binding.
 */
export class BroadcastBindings {
  /** Binding key → the bound destinations that need it. */
  private readonly keys = new Map<string, Members<Destination>>();
  /** Keys unbound while the channel was down: unbound on the server at reconnect. */
  private readonly stale = new Set<string>();
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly options: BroadcastBindingsOptions) {}

  /**
   * Adds the binding keys of `destination`. Resolves once the server has them; while
   * disconnected, once reconnected. Idempotent per destination. Rejects only when the broker
   * closes first.
   */
  async bind(destination: Destination): Promise<void> {
    const added: string[] = [];
    for (const key of broadcastBindingKeys(destination)) {
      if (!this.keys.has(key)) added.push(key);
      addMember(this.keys, key, destination);
      this.stale.delete(key);
    }
    const { nodeExchange, broadcastExchange, log } = this.options;
    await this.serially(async () => {
      for (;;) {
        const ch = this.options.channel();
        if (ch) {
          try {
            // Skip keys that an unbind, queued after this bind, already released.
            for (const key of added)
              if (this.keys.has(key)) await ch.bindExchange(nodeExchange, broadcastExchange, key);
            return;
          } catch (err) {
            log.debug({ err: errorMessage(err), destination }, 'bind interrupted, waiting for reconnect');
          }
        }
        // Reconnecting binds every key held, but a key added while it ran may have been missed:
        // go round and bind explicitly (binding twice is harmless).
        await this.options.whenReady();
      }
    });
  }

  /**
   * Releases the binding keys of `destination` that no other bound destination needs. Resolves
   * once the server dropped them, or, when the connection is down as its turn comes, once they
   * are noted to be dropped at reconnect (until then the node filters). Idempotent.
   */
  async unbind(destination: Destination): Promise<void> {
    const removed: string[] = [];
    for (const key of broadcastBindingKeys(destination)) {
      if (removeMember(this.keys, key, destination) && !this.keys.has(key)) removed.push(key);
    }
    if (removed.length === 0) return;
    const { nodeExchange, broadcastExchange } = this.options;
    await this.serially(async () => {
      for (const key of removed) {
        if (this.keys.has(key)) continue; // bound again since
        const ch = this.options.channel();
        try {
          if (!ch) throw new Error('not connected');
          await ch.unbindExchange(nodeExchange, broadcastExchange, key);
        } catch {
          this.stale.add(key);
        }
      }
    });
  }

  /** At (re)connect, on a fresh node exchange: every key held is bound, every stale one unbound. */
  async restore(ch: Channel): Promise<void> {
    const { nodeExchange, broadcastExchange } = this.options;
    for (const key of this.keys.keys()) await ch.bindExchange(nodeExchange, broadcastExchange, key);
    for (const key of this.stale) await ch.unbindExchange(nodeExchange, broadcastExchange, key);
    this.stale.clear();
  }

  private serially(op: () => Promise<void>): Promise<void> {
    const run = this.chain.then(op);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
