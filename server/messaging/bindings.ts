import type { Broker } from '../broker/broker.js';
import type { Logger } from '../log.js';
import type { SubscriptionHooks } from './subscriptions.js';

/**
 * Keeps the node's broker bindings in step with its local subscribers (SPEC §5: a node with no
 * subscriber of a destination receives none of its traffic): bind on the first, unbind after the
 * last, one ordered chain of steps per destination.
 */
export class BrokerBindings implements SubscriptionHooks {
  /** Per destination: the last step, failures caught (the chain goes on after a failed step). */
  private readonly chains = new Map<string, Promise<void>>();
  /** Per destination: the last step's own outcome, which `settled` reports. */
  private readonly outcomes = new Map<string, Promise<void>>();

  constructor(
    private readonly broker: Broker,
    private readonly log: Logger,
  ) {}

  firstSubscriber(destination: string): void {
    this.step(destination, () => this.broker.bind(destination));
  }

  lastSubscriberGone(destination: string): void {
    this.step(destination, () => this.broker.unbind(destination));
  }

  /**
   * Resolves once the pending steps for `destination` are done (a SUBSCRIBE's RECEIPT waits for
   * it); rejects when the last of them failed: a subscriber must not be told it is subscribed
   * when the broker never bound its destination.
   */
  settled(destination: string): Promise<void> {
    return this.outcomes.get(destination) ?? Promise.resolve();
  }

  private step(destination: string, run: () => Promise<void>): void {
    const outcome = (this.chains.get(destination) ?? Promise.resolve()).then(run);
    const next = outcome.catch((err: unknown) => {
      this.log.error({ err, destination }, 'broker binding failed');
    });
    this.chains.set(destination, next);
    this.outcomes.set(destination, outcome);
    void next.then(() => {
      if (this.chains.get(destination) !== next) return;
      this.chains.delete(destination);
      this.outcomes.delete(destination);
    });
  }
}
