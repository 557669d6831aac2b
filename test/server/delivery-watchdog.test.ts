import { expect } from 'chai';
import { DeliveryWatchdog } from '../../server/broker/delivery-watchdog.js';
import { delay } from '../helpers/wait.js';

describe('DeliveryWatchdog (a consumer RabbitMQ stopped feeding)', () => {
  const dogs: DeliveryWatchdog[] = [];
  afterEach(() => dogs.splice(0).forEach((d) => d.stop()));

  /** Checks every 50 ms. */
  function watch(state: { ready: number; busy: boolean }, stalls: number[]): DeliveryWatchdog {
    const dog = new DeliveryWatchdog(
      async () => state.ready,
      () => state.busy,
      (ready) => stalls.push(ready),
      50,
    );
    dogs.push(dog);
    return dog;
  }

  it('says nothing while the queue is empty, a handler runs, or deliveries keep coming', async () => {
    const stalls: number[] = [];
    const state = { ready: 0, busy: false };
    const dog = watch(state, stalls);
    await delay(200); // idle, queue empty
    state.ready = 5;
    state.busy = true; // a slow handler holds the consumer
    await delay(200);
    state.busy = false;
    for (let i = 0; i < 40; i++) {
      dog.delivered();
      await delay(5);
    }
    expect(stalls).to.deep.equal([]);
  });

  it('reports a stall once: ready messages, no delivery and no handler for two checks', async () => {
    const stalls: number[] = [];
    watch({ ready: 7, busy: false }, stalls);
    await delay(300);
    expect(stalls).to.deep.equal([7]);
  });
});
