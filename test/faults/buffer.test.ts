import { expect } from 'chai';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { TEST_AMQP_URL } from '../helpers/services.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { useCluster } from '../helpers/use-cluster.js';
import { delay, waitFor } from '../helpers/wait.js';
import { CarefulSender, Ledger, Recipient, stopAll, suppressedDuplicates, USER_DEST, waitReady } from './support.js';

/** The bound under test: RELAY_BUFFER_MAX, publishes a node keeps waiting for RabbitMQ. */
const BUFFER = 20;

/**
 * A RabbitMQ outage longer than the node's publish buffer (RELAY_BUFFER_MAX): the node keeps
 * what it buffered, and tells the senders of anything more that it was not taken (an ERROR frame
 * `message not accepted…` and close; HTTP 503 NOT_ACCEPTED), instead of growing without bound
 * or dropping what it already accepted.
 */
describe('faults: a publish buffer that fills during a long RabbitMQ outage', function () {
  let proxy: TcpProxy;
  const clients: { stop(): Promise<void> }[] = [];
  const cluster = useCluster(2, {
    env: { NODE_TTL_MS: '3000', RELAY_BUFFER_MAX: String(BUFFER), LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'info' },
    beforeStart: async () => {
      proxy = await startTcpProxy(TEST_AMQP_URL);
    },
    // Only node 1 reaches RabbitMQ through the proxy: it is the senders' node.
    nodeEnv: (i): Record<string, string> => (i === 0 ? { AMQP_URL: proxy.url(TEST_AMQP_URL) } : {}),
    afterEach: async () => {
      proxy?.restore();
      await stopAll(clients.splice(0));
    },
  });
  let n1: ClusterNode;
  let n2: ClusterNode;

  before(() => {
    [n1, n2] = cluster.nodes as [ClusterNode, ClusterNode];
  });
  after(async () => {
    await proxy?.close();
  });

  /** POST /api/users/{to}/messages with a numbered body; 202 means accepted. */
  async function post(ledger: Ledger, to: string, n: number): Promise<number> {
    const k = ledger.sent('api', to, n);
    const res = await fetch(`${n1.http}/api/users/${to}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ destination: USER_DEST, body: { k, from: 'api', to, n } }),
      signal: AbortSignal.timeout(20_000),
    });
    if (res.status === 202) ledger.accept(k);
    else expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('NOT_ACCEPTED');
    return res.status;
  }

  /** A careful backend: on 503 it tries again a little later (bounded), as the error says. */
  async function postUntilAccepted(ledger: Ledger, to: string, n: number): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const status = await post(ledger, to, n);
      if (status === 202 || attempt >= 50) return status;
      await delay(100);
    }
  }

  it('refuses what does not fit (ERROR / 503) and delivers everything it accepted', async function () {
    this.timeout(120_000);
    const ledger = new Ledger(`publish buffer full (RELAY_BUFFER_MAX=${BUFFER})`);
    const [R, S] = uniqueUsers('R', 'S');
    const recipient = new Recipient(R, n2.url, ledger);
    const sender = new CarefulSender(S, n1.url, ledger, 3 * BUFFER, 300);
    clients.push(recipient, sender);
    recipient.start();
    sender.start();
    await Promise.all([recipient.waitReady(), sender.waitReady()]);

    // Accepted before the outage, over STOMP and HTTP.
    for (let n = 1; n <= 5; n++) expect(await post(ledger, R, n)).to.equal(202);
    const suppressedBefore = await suppressedDuplicates(cluster.nodes);
    const deadline = Date.now() + 60_000;
    const stream = sender.stream([R], 150, 20, deadline);
    await delay(1000);
    proxy.cut();
    await waitReady([n1.http], 503, 2000);
    // The buffer fills: the sender is told with an ERROR frame, and so is a backend over HTTP.
    await waitFor(() => sender.errors.length > 0, 'an ERROR frame for a message the buffer cannot take', 10_000, 20);
    const refused = await Promise.all([6, 7, 8].map((n) => post(ledger, R, n)));
    expect(refused, 'HTTP answers while the buffer is full').to.deep.equal([503, 503, 503]);
    await delay(3000);
    proxy.restore();
    await waitReady([n1.http], 200, 20_000);

    // After the outage the buffer may still be full for a moment (it also counts publishes not
    // yet confirmed, and the sender re-sends): a backend retries on 503.
    for (let n = 9; n <= 12; n++) expect(await postUntilAccepted(ledger, R, n)).to.equal(202);
    await stream;
    await sender.allAccepted(30_000);
    await ledger.settle(20_000);
    const http503 = refused.filter((s) => s === 503).length;
    ledger.report({
      errors: sender.errors.length,
      http503,
      resent: sender.resent,
      reconnects: sender.connects - 1,
      suppressed: (await suppressedDuplicates(cluster.nodes)) - suppressedBefore,
    });
    expect(
      sender.errors.every((m) => /not accepted/.test(m)),
      `ERROR messages: ${sender.errors.join(' | ')}`,
    ).to.equal(true);
    // The three refused HTTP messages were never accepted; every STOMP message was in the end.
    expect(ledger.unaccepted().map((e) => e.from)).to.deep.equal(['api', 'api', 'api']);
    expect(ledger.lost(), ledger.describeLost()).to.have.length(0);
  });
});
