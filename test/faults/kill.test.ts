import { expect } from 'chai';
import { requireService } from '../helpers/services.js';
import { BalancedCluster, stopAll } from './balanced.js';

/**
 * SPEC §8 "A node that dies (kill -9)": its clients reconnect through the balancer to the others;
 * what was addressed to them meanwhile reaches them: messages left in the dead node's queue are
 * adopted by a live node once its liveness key expired and a sweep found it (NODE_TTL_MS 3000:
 * within about two TTLs), and re-routed to wherever the users are now.
 */
describe('faults: SIGKILL of the recipients\' node mid-stream, clients behind a balancer', function () {
  let cluster: BalancedCluster | undefined;
  const clients: { stop(): Promise<void> }[] = [];

  before(async function () {
    this.timeout(60_000);
    await requireService(this, 'redis');
    await requireService(this, 'rabbitmq');
    cluster = await BalancedCluster.start({ NODE_TTL_MS: '3000' });
  });
  afterEach(async function () {
    cluster?.cluster.printLogsIfFailed(this);
    await stopAll(clients.splice(0));
  });
  after(async function () {
    this.timeout(30_000);
    await cluster?.stop();
  });

  it('loses nothing when the node holding R2 and S2 is killed; STOMP.js reconnects through the balancer', async function () {
    this.timeout(120_000);
    const run = await cluster!.run('sigkill recipient node', async (victim) => {
      const exit = await victim.kill('SIGKILL');
      expect(exit.signal).to.equal('SIGKILL');
    }, clients);
    // Killed, not closed: the clients saw an abnormal close, not 1012.
    for (const c of run.moved) expect(c.closes, `${c.user}'s close codes`).to.not.include(1012);
  });
});
