import { expect } from 'chai';
import amqp from 'amqplib';
import { uniqueUsers, unsubscribeWithReceipt, type ClusterNode } from '../helpers/cluster.js';
import { TEST_AMQP_URL } from '../helpers/services.js';
import { useCluster } from '../helpers/use-cluster.js';
import { waitFor } from '../helpers/wait.js';

/** The value of one user's field in `{prefix}co:{docId}` (SPEC §5). */
interface Presence {
  node: string;
  sessions: number;
  nodes: Record<string, number>;
}

async function sendToUser(
  node: ClusterNode,
  user: string,
  destination: string,
  body: unknown,
): Promise<{ status: number; json: { id?: string; status?: string } }> {
  const res = await fetch(`${node.http}/api/users/${encodeURIComponent(user)}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ destination, body }),
  });
  return { status: res.status, json: (await res.json()) as { id?: string; status?: string } };
}

describe('cluster: the Redis registry', function () {
  const cluster = useCluster(3);
  let n1: ClusterNode;
  let n2: ClusterNode;
  let n3: ClusterNode;
  const doc42 = () => `${cluster.keyPrefix}co:42`;
  const field = async (user: string): Promise<Presence | null> => {
    const raw = await cluster.redis.hget(doc42(), user);
    return raw === null ? null : (JSON.parse(raw) as Presence);
  };

  before(() => {
    [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });

  it('holds A and B in {prefix}co:42 with their nodes while they subscribe to /user/42/queue/chat', async () => {
    const [A, B] = uniqueUsers('A', 'B');
    const a = await cluster.connect(n1, A);
    const b = await cluster.connect(n3, B);
    // Connected but not in the document yet.
    expect(await field(A)).to.equal(null);
    await a.subscribeWithReceipt('/user/42/queue/chat');
    await b.subscribeWithReceipt('/user/42/queue/chat');

    const all = await cluster.redis.hgetall(doc42());
    expect(JSON.parse(all[A]!)).to.deep.include({ node: n1.nodeId, sessions: 1, nodes: { [n1.nodeId]: 1 } });
    expect(JSON.parse(all[B]!)).to.deep.include({ node: n3.nodeId, sessions: 1, nodes: { [n3.nodeId]: 1 } });
  });

  it("counts a user's sessions per node, and names the node of the most recent one", async () => {
    const [B] = uniqueUsers('B');
    const b3 = await cluster.connect(n3, B);
    const b2 = await cluster.connect(n2, B);
    const b2bis = await cluster.connect(n2, B);
    await b3.subscribeWithReceipt('/user/42/queue/chat');
    await b2.subscribeWithReceipt('/user/42/queue/chat');
    // A second destination of the same document in the same session does not count twice.
    await b2.subscribeWithReceipt('/topic/docs/42/cursor');
    await b2bis.subscribeWithReceipt('/user/42/queue/chat');

    expect(await field(B)).to.deep.equal({ node: n2.nodeId, sessions: 2, nodes: { [n3.nodeId]: 1, [n2.nodeId]: 2 } });
  });

  it('removes a user from {prefix}co:42 at its last unsubscribe of the document, and at disconnect', async () => {
    const [A, B] = uniqueUsers('A', 'B');
    const a = await cluster.connect(n1, A);
    const b = await cluster.connect(n3, B);
    const ia = await a.subscribeWithReceipt('/user/42/queue/chat');
    const cursor = await a.subscribeWithReceipt('/topic/docs/42/cursor');
    await b.subscribeWithReceipt('/user/42/queue/chat');

    await unsubscribeWithReceipt(a, ia.subscription);
    expect(await field(A), 'still on /topic/docs/42/cursor').to.deep.include({ node: n1.nodeId });
    await unsubscribeWithReceipt(a, cursor.subscription);
    expect(await field(A)).to.equal(null);

    await b.disconnect();
    await waitFor(async () => (await field(B)) === null, `${B} to leave ${doc42()}`, 5000);
  });

  it('locates a user by node for destinations without a document ({prefix}user:{id})', async () => {
    const [B] = uniqueUsers('B');
    const b = await cluster.connect(n2, B);
    await b.subscribeWithReceipt('/user/queue/notice');
    expect(await cluster.redis.hgetall(`${cluster.keyPrefix}user:${B}`)).to.deep.equal({ [n2.nodeId]: '1' });
    await b.disconnect();
    await waitFor(
      async () => (await cluster.redis.exists(`${cluster.keyPrefix}user:${B}`)) === 0,
      `${B} to be unlocated`,
      5000,
    );
    const sent = await sendToUser(n1, B, '/queue/notice', 'later');
    expect(sent).to.deep.include({ status: 202 });
    expect(sent.json.status).to.equal('stored');
  });
});

describe('cluster: a node killed with SIGKILL', function () {
  const ttlMs = 3000;
  const cluster = useCluster(3, { env: { NODE_TTL_MS: String(ttlMs) } });
  let n1: ClusterNode;
  let n2: ClusterNode;
  let n3: ClusterNode;

  before(() => {
    [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });

  it('stops locating its users within the liveness TTL, sweeps their entries, and stores messages for them offline', async function () {
    this.timeout(30_000);
    const [A, B] = uniqueUsers('A', 'B');
    const doc42 = `${cluster.keyPrefix}co:42`;
    const a = await cluster.connect(n1, A);
    const b = await cluster.connect(n3, B);
    await a.subscribeWithReceipt('/user/42/queue/chat');
    await b.subscribeWithReceipt('/user/42/queue/chat');
    expect(JSON.parse((await cluster.redis.hget(doc42, B))!)).to.deep.include({ node: n3.nodeId });

    const killedAt = Date.now();
    const exit = await n3.kill('SIGKILL');
    expect(exit.signal).to.equal('SIGKILL');

    // Its liveness key expires at most one TTL after its last refresh: from then on nobody
    // locates B there (reads skip dead nodes), as the presence API shows.
    const presentOn = async (node: ClusterNode) =>
      ((await (await fetch(`${node.http}/api/docs/42/presence`)).json()) as { users: { userId: string }[] }).users.map(
        (u) => u.userId,
      );
    await waitFor(async () => !(await presentOn(n1)).includes(B), `${B} to be no longer located`, ttlMs + 1000);
    const unlocatedAfterMs = Date.now() - killedAt;
    // Every live node sweeps once per TTL, so the entries themselves go within two TTLs (+ margin).
    const sweepBoundMs = 2 * ttlMs + 1500;
    await waitFor(
      async () => (await cluster.redis.hexists(doc42, B)) === 0,
      `${B}'s entry in ${doc42} to be swept`,
      sweepBoundMs,
    );
    const sweptAfterMs = Date.now() - killedAt;
    expect(sweptAfterMs).to.be.below(sweepBoundMs);
    expect(await cluster.redis.exists(`${cluster.keyPrefix}node:${n3.nodeId}`)).to.equal(0);
    expect(await cluster.redis.exists(`${cluster.keyPrefix}user:${B}`)).to.equal(0);
    expect(JSON.parse((await cluster.redis.hget(doc42, A))!)).to.deep.include({ node: n1.nodeId });

    const before = await n2.metrics();
    const chat = await sendToUser(n2, B, '/42/queue/chat', { from: 'support', content: 'are you there?' });
    expect(chat).to.deep.include({ status: 202 });
    expect(chat.json.status).to.equal('stored');
    const notice = await sendToUser(n2, B, '/queue/notice', 'also kept');
    expect(notice.json.status).to.equal('stored');
    const after = await n2.metrics();
    expect(after.value('stomp_offline_stored_total') - before.value('stomp_offline_stored_total')).to.equal(2);

    expect(await presentOn(n2))
      .to.include(A)
      .and.not.include(B);
    if (process.env.CLUSTER_REPORT)
      console.log(`      unlocated after ${unlocatedAfterMs} ms, swept after ${sweptAfterMs} ms`);
  });
});

describe('cluster: messages caught on a node killed with SIGKILL', function () {
  const ttlMs = 3000;
  const cluster = useCluster(3, { env: { NODE_TTL_MS: String(ttlMs) } });
  let n1: ClusterNode;
  let n2: ClusterNode;
  let n3: ClusterNode;

  before(() => {
    [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });

  it('reaches the user, in order, when it reconnects to another node after the dead node was swept', async function () {
    this.timeout(30_000);
    const [B] = uniqueUsers('B');
    const queue = `${cluster.amqpPrefix}node.${n3.nodeId}`;
    const b = await cluster.connect(n3, B);
    await b.subscribeWithReceipt('/user/42/queue/chat');
    await n3.kill('SIGKILL');

    // Before its liveness key expires, node 3 still holds B as far as anyone knows: this one
    // goes to node 3's queue, where nobody consumes it.
    const caught = await sendToUser(n2, B, '/42/queue/chat', { n: 1 });
    expect(caught.json.status).to.equal('routed');

    // A live node sweeps node 3 and takes over its queue: the message is kept for B. The queue is
    // left, empty and without its binding.
    await waitFor(
      () => [n1, n2].some((n) => n.logs().some((l) => l.includes('adopted a node queue') && l.includes(queue))),
      `${queue} to be taken over`,
      2 * ttlMs + 1500,
    );
    const conn = await amqp.connect(TEST_AMQP_URL);
    try {
      expect(await queueExists(conn, queue)).to.equal(true);
    } finally {
      await conn.close();
    }
    const later = await sendToUser(n2, B, '/42/queue/chat', { n: 2 });
    expect(later.json.status).to.equal('stored');

    const back = await cluster.connect(n1, B);
    const inbox = await back.subscribeWithReceipt('/user/42/queue/chat');
    await inbox.wait(2);
    expect(inbox.bodies().map((m) => JSON.parse(m) as unknown)).to.deep.equal([{ n: 1 }, { n: 2 }]);
  });
});

async function queueExists(conn: amqp.ChannelModel, queue: string): Promise<boolean> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined); // a missing queue closes the channel with 404
  try {
    await ch.checkQueue(queue);
    await ch.close();
    return true;
  } catch {
    return false;
  }
}
