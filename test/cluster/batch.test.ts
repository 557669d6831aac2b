import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { connect } from 'amqplib';
import { RabbitTopology } from '../../server/broker/rabbit-topology.js';
import { encodeBatch, encodeEnvelope } from '../../server/relay/relay-envelope.js';
import type { RelayMessage } from '../../server/relay/relay-message.js';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { TEST_AMQP_URL } from '../helpers/services.js';
import { useCluster } from '../helpers/use-cluster.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

/** "ready unacked" of one queue, from rabbitmqctl (the broker's own count; AMQP cannot see unacked messages). */
async function queueCounts(queue: string): Promise<string> {
  const { stdout } = await run('rabbitmqctl', [
    'list_queues',
    '-q',
    '--no-table-headers',
    'name',
    'messages_ready',
    'messages_unacknowledged',
  ]);
  const line = stdout.split('\n').find((l) => l.split('\t')[0] === queue);
  return line ? line.split('\t').slice(1).join(' ') : 'missing';
}

/**
 * The batched node hop (SPEC §9): one AMQP message carries several relay messages for one node,
 * and the node settles each record on its own. The batch is written to node 1's queue by hand, as
 * another node would, with every kind of record in it at once.
 */
describe('cluster: a batch of relayed messages, record by record', function () {
  const cluster = useCluster(2);
  let n1: ClusterNode;
  let n2: ClusterNode;

  before(() => {
    [n1, n2] = cluster.nodes as [ClusterNode, ClusterNode];
  });

  function record(id: string, user: string, body: string): RelayMessage {
    return {
      id,
      target: { kind: 'user', user },
      destination: '/queue/x',
      headers: [['x-seq', id]],
      body: Buffer.from(body),
      origin: 'batch-test',
      sentAt: Date.now(),
    };
  }

  it('delivers, re-routes and stores the records of one batch around a poison one, in order', async () => {
    const [Here, Moved, Away] = uniqueUsers('here', 'moved', 'away');
    const here = await cluster.connect(n1, Here);
    const moved = await cluster.connect(n2, Moved); // the sender thought Moved was on node 1
    const inboxHere = await here.subscribeWithReceipt('/user/queue/x');
    const inboxMoved = await moved.subscribeWithReceipt('/user/queue/x');
    const before = await n1.metrics();

    const stamp = `${Date.now()}`;
    const records = [
      record(`b-${stamp}-1`, Here, 'first for here'),
      record(`b-${stamp}-2`, Moved, 'for the one who moved'),
      { id: `b-${stamp}-poison`, envelope: Buffer.from('\x01 this is not an envelope') },
      record(`b-${stamp}-3`, Away, 'for the one who is offline'),
      record(`b-${stamp}-4`, Here, 'second for here'),
    ];
    const conn = await connect(TEST_AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      const t = new RabbitTopology(cluster.amqpPrefix);
      const content = encodeBatch(
        records.map((r) => ('envelope' in r ? r : { id: r.id, envelope: encodeEnvelope(r) })),
      );
      ch.publish(t.relayExchange, t.nodeRoutingKey(n1.nodeId), content, {
        messageId: `b-${stamp}+5`,
        persistent: true,
        mandatory: true,
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }

    const got = await inboxHere.wait(2);
    expect(got.map((m) => m.body)).to.deep.equal(['first for here', 'second for here']);
    expect(got.map((m) => m.headers['message-id'])).to.deep.equal([`b-${stamp}-1`, `b-${stamp}-4`]);
    const [m] = await inboxMoved.wait(1);
    expect(m!.body).to.equal('for the one who moved');

    // The offline one was kept: it arrives when its user comes.
    await waitFor(
      async () => (await n1.metrics()).value('stomp_offline_stored_total') > before.value('stomp_offline_stored_total'),
      'the record for the offline user stored',
    );
    const away = await cluster.connect(n2, Away);
    const inboxAway = await away.subscribeWithReceipt('/user/queue/x');
    const [stored] = await inboxAway.wait(1);
    expect(stored!.body).to.equal('for the one who is offline');

    expect(
      n1.logs().some((l) => l.includes('dropping an undecodable record') && l.includes(`b-${stamp}-poison`)),
    ).to.equal(true);
    // Every record settled, so the batch was acked: node 1's queue holds nothing, ready or unacked.
    const queue = new RabbitTopology(cluster.amqpPrefix).nodeQueue(n1.nodeId);
    await waitFor(async () => (await queueCounts(queue)) === '0 0', `${queue} empty and acked`, 15_000, 300);
    expect(inboxHere.bodies()).to.deep.equal(['first for here', 'second for here']);
  });
});
