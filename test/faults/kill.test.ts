import { expect } from 'chai';
import { useBalancedCluster } from './balanced.js';

/** Liveness TTL: a killed node's queue is adopted within about two of these. */
const TTL_MS = 3000;

/**
 * SPEC §8 "A node that dies (kill -9)": its clients reconnect through the balancer to the others;
 * what was addressed to them meanwhile reaches them: messages left in the dead node's queue are
 * adopted by a live node once its liveness key expired and a sweep found it (within about two
 * NODE_TTL_MS), and re-routed to wherever the users are now, or kept offline until they are back.
 * Each test kills one node of a fresh three-node cluster.
 */
describe("faults: SIGKILL of the recipients' node mid-stream, clients behind a balancer", function () {
  const clients: { stop(): Promise<void> }[] = [];
  const balanced = useBalancedCluster({ NODE_TTL_MS: String(TTL_MS) }, clients);

  it('loses nothing when the node holding R2 and S2 is killed; STOMP.js reconnects through the balancer at once', async function () {
    this.timeout(120_000);
    const run = await balanced().run(
      'sigkill recipient node',
      async (victim) => {
        const exit = await victim.kill('SIGKILL');
        expect(exit.signal).to.equal('SIGKILL');
      },
      clients,
    );
    // Killed, not drained: the clients saw an abnormal close, never 1012.
    for (const c of run.moved) expect(c.closes, `${c.user}'s close codes`).to.not.include(1012);
  });

  it('loses nothing when R2 comes back only after the dead node was swept (adopted messages wait offline)', async function () {
    this.timeout(120_000);
    const run = await balanced().run(
      'sigkill, R2 back after the sweep',
      async (victim) => {
        await victim.kill('SIGKILL');
      },
      clients,
      { r2ReconnectDelayMs: 3 * TTL_MS },
    );
    for (const c of run.moved) expect(c.closes, `${c.user}'s close codes`).to.not.include(1012);
  });
});
