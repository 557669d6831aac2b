import { expect } from 'chai';
import { Redis } from 'ioredis';
import { header, type Frame } from '../../protocol/index.js';
import { deleteRabbitNames, deleteRedisKeys } from '../helpers/cleanup.js';
import { connectRaw, type RawSocket } from '../helpers/raw-socket.js';
import { requireService, TEST_AMQP_URL, TEST_REDIS_URL, uniquePrefix } from '../helpers/services.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { waitFor } from '../helpers/wait.js';

/**
 * SPEC §11 on a user destination across two cluster nodes: the offset assigned where a message
 * is accepted travels with it to the node of its user, and a resume on the other node gets what
 * was missed once, although the offline inbox holds the same messages.
 */
describe('resume of a user destination across cluster nodes', function () {
  this.timeout(30_000);
  const prefix = uniquePrefix('ustream');
  const ids = [`us-a-${process.pid}`, `us-b-${process.pid}`];
  const nodes: StartedNode[] = [];
  const sockets: RawSocket[] = [];

  before(async function () {
    await requireService(this, 'redis');
    await requireService(this, 'rabbitmq');
    for (const id of ids) {
      nodes.push(
        await startNode({
          REDIS_URL: TEST_REDIS_URL,
          AMQP_URL: TEST_AMQP_URL,
          KEY_PREFIX: prefix,
          NODE_ID: id,
          HISTORY_DESTINATIONS: '/user/queue/inbox',
        }),
      );
    }
  });
  after(async () => {
    for (const s of sockets) s.close();
    for (const n of nodes) await n.stop();
    if (nodes.length === 0) return;
    const redis = new Redis(TEST_REDIS_URL);
    await deleteRedisKeys(redis, prefix).finally(() => redis.quit());
    await deleteRabbitNames(TEST_AMQP_URL, prefix.replace(/:$/, '.'), ids);
  });

  async function subscribe(node: StartedNode, extra = ''): Promise<{ socket: RawSocket; receipt: Frame }> {
    const socket = await connectRaw(node.url, 'ursula');
    sockets.push(socket);
    socket.send(`SUBSCRIBE\nid:0\ndestination:/user/queue/inbox\nreceipt:sub\n${extra}\n\0`);
    return { socket, receipt: await socket.next('RECEIPT') };
  }
  const bodies = (s: RawSocket) => s.frames.filter((f) => f.command === 'MESSAGE').map((f) => f.body.toString());
  const offsets = (s: RawSocket) =>
    s.frames.filter((f) => f.command === 'MESSAGE').map((f) => Number(header(f, 'x-offset')));

  it('numbers the messages sent on another node, and resumes on that node with exactly the missed ones', async () => {
    const [a, b] = nodes as [StartedNode, StartedNode];
    const first = await subscribe(b);
    const epoch = header(first.receipt, 'x-epoch');
    const start = Number(header(first.receipt, 'x-offset'));
    expect(epoch).to.be.a('string');
    for (let i = 1; i <= 3; i++) await a.node.template.convertAndSendToUser('ursula', '/queue/inbox', `m${i}`);
    await waitFor(() => bodies(first.socket).length >= 3, 'three live messages on node B');
    expect(offsets(first.socket)).to.deep.equal([start + 1, start + 2, start + 3]);
    first.socket.close();
    await first.socket.closed;
    // Offline now: each of these is kept in the inbox and in the history.
    await waitFor(async () => (await a.node.registry.locate('ursula')).length === 0, 'ursula gone from the registry');
    for (let i = 4; i <= 6; i++) await b.node.template.convertAndSendToUser('ursula', '/queue/inbox', `m${i}`);

    const again = await subscribe(a, `x-resume-epoch:${epoch}\nx-resume-offset:${start + 3}\n`);
    expect(header(again.receipt, 'x-recovered')).to.equal('true');
    await waitFor(() => bodies(again.socket).length >= 3, 'the three missed messages');
    // A fence: a live message after the replay; nothing may come twice or out of order before it.
    await b.node.template.convertAndSendToUser('ursula', '/queue/inbox', 'm7');
    await waitFor(() => bodies(again.socket).includes('m7'), 'the live message after the replay');
    expect(bodies(again.socket)).to.deep.equal(['m4', 'm5', 'm6', 'm7']);
    expect(offsets(again.socket)).to.deep.equal([start + 4, start + 5, start + 6, start + 7]);
  });
});
