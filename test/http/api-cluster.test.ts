import { expect } from 'chai';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { useCluster } from '../helpers/use-cluster.js';
import { waitFor } from '../helpers/wait.js';
import { get, jsonOf, post, pushToUser } from './http-client.js';

interface PushAnswer {
  id: string;
  status: 'routed' | 'stored';
}
interface PresenceAnswer {
  docId: string;
  users: { userId: string; node: string; sessions: number; nodes: Record<string, number> }[];
}

/** The backend's view (seeds 000, 001, 004): it calls whichever node the balancer picks. */
describe('HTTP API across a cluster (two node processes on Redis and RabbitMQ)', function () {
  const cluster = useCluster(2);
  let n1: ClusterNode;
  let n2: ClusterNode;

  before(() => {
    [n1, n2] = cluster.nodes as [ClusterNode, ClusterNode];
  });

  it("routes a push sent to node 2 to the user's session on node 1", async () => {
    const [bob] = uniqueUsers('bob');
    const c = await cluster.connect(n1, bob);
    const inbox = await c.subscribeWithReceipt('/user/queue/progress');

    const res = await pushToUser(n2.http, bob, {
      destination: '/queue/progress',
      body: { percent: 40 },
      headers: { job: 'r7' },
    });

    expect(res.status).to.equal(202);
    expect(jsonOf<PushAnswer>(res).status).to.equal('routed');
    const [m] = await inbox.wait(1);
    expect(JSON.parse(m!.body)).to.deep.equal({ percent: 40 });
    expect(m!.headers.destination).to.equal('/user/queue/progress');
    expect(m!.headers.job).to.equal('r7');
  });

  it('routes a /{docId}/queue/chat push from node 2 to /user/{docId}/queue/chat on node 1', async () => {
    const [bob] = uniqueUsers('bob');
    const c = await cluster.connect(n1, bob);
    const chat = await c.subscribeWithReceipt('/user/42/queue/chat');

    const res = await pushToUser(n2.http, bob, {
      destination: '/42/queue/chat',
      body: { from: 'support', content: 'we fixed it' },
    });

    expect(res.status).to.equal(202);
    expect(jsonOf<PushAnswer>(res).status).to.equal('routed');
    const [m] = await chat.wait(1);
    expect(m!.headers.destination).to.equal('/user/42/queue/chat');
    expect(JSON.parse(m!.body)).to.deep.include({ content: 'we fixed it' });
  });

  it('reaches sessions of one user on both nodes from either node', async () => {
    const [bob] = uniqueUsers('bob');
    const on1 = await (await cluster.connect(n1, bob)).subscribeWithReceipt('/user/queue/x');
    const on2 = await (await cluster.connect(n2, bob)).subscribeWithReceipt('/user/queue/x');

    expect((await pushToUser(n1.http, bob, { destination: '/queue/x', body: { via: 1 } })).status).to.equal(202);
    expect((await pushToUser(n2.http, bob, { destination: '/queue/x', body: { via: 2 } })).status).to.equal(202);

    for (const inbox of [on1, on2]) {
      const got = await inbox.wait(2);
      expect(got.map((m) => (JSON.parse(m.body) as { via: number }).via).sort()).to.deep.equal([1, 2]);
    }
  });

  it('stores a push for a user connected nowhere, and node 1 delivers it when the user subscribes there', async () => {
    const [dora] = uniqueUsers('dora');
    for (const step of [1, 2]) {
      const res = await pushToUser(n2.http, dora, { destination: '/queue/x', body: { step } });
      expect(res.status).to.equal(202);
      expect(jsonOf<PushAnswer>(res).status).to.equal('stored');
    }
    const inbox = (await cluster.connect(n1, dora)).subscribe('/user/queue/x');
    const got = await inbox.wait(2);
    expect(got.map((m): unknown => JSON.parse(m.body))).to.deep.equal([{ step: 1 }, { step: 2 }]);
  });

  it('broadcasts from node 2 to a topic subscriber on node 1', async () => {
    const [ann] = uniqueUsers('ann');
    const topic = `/topic/news-${ann}`;
    const inbox = await (await cluster.connect(n1, ann)).subscribeWithReceipt(topic);

    const res = await post(n2.http, '/api/broadcast', { destination: topic, body: { headline: 'hello' } });

    expect(res.status).to.equal(202);
    const [m] = await inbox.wait(1);
    expect(JSON.parse(m!.body)).to.deep.equal({ headline: 'hello' });
  });

  it('answers the same document presence from both nodes, naming the node of each user', async () => {
    const [alice, bob] = uniqueUsers('alice', 'bob');
    const doc = `doc-${alice}`;
    await (await cluster.connect(n1, alice)).subscribeWithReceipt(`/user/${doc}/queue/chat`);
    await (await cluster.connect(n2, bob)).subscribeWithReceipt(`/topic/docs/${doc}/presence`);

    const answers = await Promise.all(
      [n1, n2].map(async (n) => {
        const res = await get(n.http, `/api/docs/${doc}/presence`);
        expect(res.status).to.equal(200);
        const answer = jsonOf<PresenceAnswer>(res);
        return { ...answer, users: [...answer.users].sort((a, b) => a.userId.localeCompare(b.userId)) };
      }),
    );

    expect(answers[0]).to.deep.equal(answers[1]);
    expect(answers[0]!.users).to.deep.equal([
      { userId: alice, node: n1.nodeId, sessions: 1, nodes: { [n1.nodeId]: 1 } },
      { userId: bob, node: n2.nodeId, sessions: 1, nodes: { [n2.nodeId]: 1 } },
    ]);

    await cluster.disconnectClients();
    for (const n of [n1, n2]) {
      await waitFor(
        async () => jsonOf<PresenceAnswer>(await get(n.http, `/api/docs/${doc}/presence`)).users.length === 0,
        `an empty document on ${n.nodeId}`,
      );
    }
  });
});
