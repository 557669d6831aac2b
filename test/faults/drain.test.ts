import { expect } from 'chai';
import type { ClusterNode } from '../helpers/cluster.js';
import { useBalancedCluster, type BalancedRun } from './balanced.js';

/**
 * SPEC §8 "Graceful drain on SIGTERM": the node stops accepting, leaves the registry, closes its
 * sessions with 1012 so that clients reconnect elsewhere (through the balancer), hands back what
 * is still queued for it (re-routed to wherever its users are now), and exits 0 in bounded time.
 * Each test drains one node of a fresh three-node cluster.
 */
describe('faults: SIGTERM drain under load, clients behind a balancer', function () {
  const clients: { stop(): Promise<void> }[] = [];
  const balanced = useBalancedCluster({ NODE_TTL_MS: '3000', DRAIN_TIMEOUT_MS: '5000' }, clients);

  async function drain(name: string, layout: 'recipients' | 'senders', secondTab = false): Promise<void> {
    let drainMs = 0;
    const run: BalancedRun = await balanced().run(
      name,
      async (victim: ClusterNode) => {
        const t0 = Date.now();
        const exit = await victim.kill('SIGTERM');
        drainMs = Date.now() - t0;
        expect(exit, 'the drained node exits 0').to.deep.equal({ code: 0, signal: null });
      },
      clients,
      { layout, secondTab },
    );
    // What the drained node handed back from its own queue (broker log: "adopted a node queue").
    const handedBack = run.victim
      .logs()
      .filter((l) => l.includes('adopted a node queue'))
      .map((l) => /"messages":(\d+)/.exec(l)?.[1] ?? '?')
      .join(',');
    console.log(
      `      drain took ${drainMs} ms; handed back ${handedBack || 'nothing'}; close codes of the moved clients: ` +
        run.moved.map((c) => `${c.user}=${c.closes.join('/')}`).join(' '),
    );
    for (const c of run.moved) expect(c.closes, `${c.user}'s close codes`).to.include(1012);
    expect(drainMs, 'drain within DRAIN_TIMEOUT_MS').to.be.below(5000);
  }

  it("loses nothing when the senders' node drains: exit 0, its clients reconnect elsewhere after a 1012 and re-send", async function () {
    this.timeout(120_000);
    await drain('sigterm drain senders node', 'senders');
  });

  it("loses nothing when the recipients' node drains while R2 has a second tab elsewhere: what was queued there is handed back", async function () {
    this.timeout(120_000);
    await drain('sigterm drain recipient node, R2 2 tabs', 'recipients', true);
  });

  // Found by this suite as BUG "offline-store race" (1 run in 3-5 left a message in R2's inbox
  // while R2 was subscribed again; see inbox-races.test.ts), fixed in c707749.
  it("loses nothing when the recipients' node drains: exit 0, its clients reconnect elsewhere after a 1012", async function () {
    this.timeout(120_000);
    await drain('sigterm drain recipient node', 'recipients');
  });
});
