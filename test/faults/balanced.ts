import { expect } from 'chai';
import { startBalancer, type Balancer } from '../helpers/balancer.js';
import { uniqueUsers, type Cluster, type ClusterNode } from '../helpers/cluster.js';
import { useCluster } from '../helpers/use-cluster.js';
import { delay, waitFor } from '../helpers/wait.js';
import {
  CarefulSender,
  describeInbox,
  inboxLength,
  Ledger,
  nodeOf,
  Recipient,
  stopAll,
  suppressedDuplicates,
} from './support.js';

/**
 * The node-failure scenarios (kill -9, SIGTERM drain): three nodes behind a round-robin balancer,
 * every client's URL points at the balancer and STOMP.js reconnects through it. Three recipients
 * and three senders, one of each per node; every sender streams numbered messages to every
 * recipient; `fault` hits the node that holds R2 (and S2) mid-stream.
 */
export interface BalancedRun {
  readonly ledger: Ledger;
  readonly victim: ClusterNode;
  /** The clients that were on the victim. */
  readonly moved: readonly (Recipient | CarefulSender)[];
  readonly all: readonly (Recipient | CarefulSender)[];
}

export interface RunOptions {
  /**
   * 'recipients' (default): one recipient and one sender per node, the victim holds R2 and S2;
   * 'senders': the victim holds only senders (S1, S3), the recipients are on the other nodes.
   */
  readonly layout?: 'recipients' | 'senders';
  /** R2 also has a second tab (session) on a surviving node: R2 is never "nowhere". */
  readonly secondTab?: boolean;
  /** How long R2's STOMP.js waits before reconnecting (default 150 ms). */
  readonly r2ReconnectDelayMs?: number;
  /** The recipients subscribe through the resume helper (the cluster needs HISTORY_DESTINATIONS for SUB_DEST). */
  readonly resume?: boolean;
}

/**
 * Call at the top of a `describe`: a fresh three-node cluster behind a balancer for every test
 * (each test kills or drains a node); after each test `clients` are stopped, then the balancer
 * is closed and the nodes stopped. Returns the running one.
 */
export function useBalancedCluster(
  env: Record<string, string>,
  clients: { stop(): Promise<void> }[],
): () => BalancedCluster {
  let balanced: BalancedCluster | undefined;
  const cluster = useCluster(3, {
    perTest: true,
    env,
    afterEach: () => stopAll(clients.splice(0)),
    beforeStop: async () => {
      await balanced?.balancer.close();
      balanced = undefined;
    },
  });
  beforeEach(async () => {
    balanced = new BalancedCluster(cluster, await startBalancer(cluster.nodes.map((n) => n.port)));
  });
  return () => {
    if (!balanced) throw new Error('no balanced cluster is running: use it in tests');
    return balanced;
  };
}

export class BalancedCluster {
  constructor(
    readonly cluster: Cluster,
    readonly balancer: Balancer,
  ) {}

  async run(
    scenario: string,
    fault: (victim: ClusterNode) => Promise<void>,
    clients: { stop(): Promise<void> }[],
    options: RunOptions = {},
  ): Promise<BalancedRun> {
    const { layout = 'recipients', secondTab = false, r2ReconnectDelayMs = 150, resume = false } = options;
    const { cluster, balancer } = this;
    const ledger = new Ledger(scenario);
    const [R1, R2, R3, S1, S2, S3] = uniqueUsers('R1', 'R2', 'R3', 'S1', 'S2', 'S3');
    const url = balancer.url();
    const recipients = [R1, R2, R3].map(
      (u) => new Recipient(u, url, ledger, { reconnectDelayMs: u === R2 ? r2ReconnectDelayMs : 150, resume }),
    );
    const senders = [S1, S2, S3].map((u) => new CarefulSender(u, url, ledger, 40, 150));
    const [r1, r2, r3] = recipients as [Recipient, Recipient, Recipient];
    const [s1, s2, s3] = senders as [CarefulSender, CarefulSender, CarefulSender];
    // Connected one at a time, so round robin decides: positions 0..5 go to nodes 1 2 3 1 2 3.
    const order = layout === 'recipients' ? [r1, r2, r3, s1, s2, s3] : [r1, r2, s1, r3, s2, s3];
    const all = [...recipients, ...senders];
    clients.push(...all);
    for (const c of order) {
      c.start();
      await c.waitReady();
    }
    const where = await Promise.all(all.map((c) => nodeOf(cluster.redis, cluster.keyPrefix, c.user)));
    if (secondTab) {
      // Connection 7 goes where connection 1 went: R1's node, not R2's.
      const tabB = new Recipient(R2, url, ledger, { reconnectDelayMs: 150, tab: 'b' });
      clients.push(tabB);
      tabB.start();
      await tabB.waitReady();
      const r2Nodes = Object.keys(await cluster.redis.hgetall(`${cluster.keyPrefix}user:${R2}`)).sort();
      expect(r2Nodes, "R2's two tabs are on R2's and R1's nodes").to.deep.equal([where[0], where[1]].sort());
    }
    const victimId = layout === 'recipients' ? where[1] : where[3];
    const victim = cluster.nodes.find((n) => n.nodeId === victimId);
    if (!victim) throw new Error(`the victim's client is on no single node (${String(victimId)})`);
    const moved = all.filter((_, i) => where[i] === victimId);
    if (layout === 'recipients')
      expect(
        moved.map((c) => c.user),
        'the victim holds R2 and S2',
      ).to.have.members([R2, S2]);
    else
      expect(
        moved.map((c) => c.user),
        'the victim holds S1 and S3 only',
      ).to.have.members([S1, S3]);

    const survivors = cluster.nodes.filter((n) => n !== victim);
    const suppressedBefore = await suppressedDuplicates(survivors);
    const deadline = Date.now() + 60_000;
    const streams = senders.map((s) => s.stream([R1, R2, R3], 70, 25, deadline));
    await delay(1500);
    const faultAt = Date.now();
    await fault(victim);
    // Every client that was on the victim is connected (and subscribed) elsewhere.
    await waitFor(
      () => moved.every((c) => c.connects >= 2 && c.ready()),
      "the victim's clients to reconnect elsewhere",
      20_000,
      20,
    );
    const reconnectedMs = Date.now() - faultAt;
    await Promise.all(streams);
    await Promise.all(senders.map((s) => s.allAccepted(30_000)));
    await ledger.settle(30_000);
    const settledMs = Date.now() - faultAt;

    // A killed node's entries stay until a sweep removes them (about two NODE_TTL_MS); a run that
    // settled sooner (the resume helper recovers from history at once) waits for it.
    const onSurvivorsOnly = async (user: string) => {
      const now = Object.keys(await cluster.redis.hgetall(`${cluster.keyPrefix}user:${user}`));
      return now.length > 0 && now.every((n) => survivors.some((x) => x.nodeId === n));
    };
    await waitFor(
      async () => (await Promise.all(moved.map((c) => onSurvivorsOnly(c.user)))).every(Boolean),
      'the sweep to remove the victim',
      20_000,
      100,
    ).catch(() => undefined);
    for (const c of moved) {
      const now = Object.keys(await cluster.redis.hgetall(`${cluster.keyPrefix}user:${c.user}`));
      expect(now.length, `${c.user} is registered`).to.be.greaterThan(0);
      for (const n of now)
        expect(
          survivors.map((x) => x.nodeId),
          `${c.user} is on surviving nodes only`,
        ).to.include(n);
    }
    const inbox = (await Promise.all([R1, R2, R3].map((u) => inboxLength(cluster.redis, cluster.keyPrefix, u)))).reduce(
      (a, b) => a + b,
      0,
    );
    ledger.report({
      resent: senders.reduce((n, s) => n + s.resent, 0),
      suppressed: (await suppressedDuplicates(survivors)) - suppressedBefore,
      reconnectMs: reconnectedMs,
      settleMs: settledMs,
      inbox,
    });
    console.log(`      ${(await cluster.relayReport()).split('\n').join('\n      ')}`);
    expect(ledger.unaccepted(), 'messages never accepted').to.have.length(0);
    if (ledger.lost().length > 0) {
      for (const u of [R1, R2, R3])
        console.log(`      ${u}'s offline inbox: ${await describeInbox(cluster.redis, cluster.keyPrefix, u)}`);
      console.log(`      where: ${all.map((c, i) => `${c.user}@${String(where[i]).replace(/.*-/, '')}`).join(' ')}`);
    }
    expect(ledger.lost(), `${ledger.describeLost()}; left in the recipients' offline inboxes: ${inbox}`).to.have.length(
      0,
    );
    expect(ledger.idMismatches, 'MESSAGE message-id differs from the SEND message-id').to.equal(0);
    return { ledger, victim, moved, all };
  }
}
