import { expect } from 'chai';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { useCluster } from '../helpers/use-cluster.js';

describe('cluster: delivery across nodes', function () {
  const cluster = useCluster(3);
  let n1: ClusterNode;
  let n2: ClusterNode;
  let n3: ClusterNode;

  before(() => {
    [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });

  it("delivers the seed's chat sent by A on node 1 to B on node 3, and to nobody else", async () => {
    const [A, B, C] = uniqueUsers('A', 'B', 'C');
    const a = await cluster.connect(n1, A);
    const b = await cluster.connect(n3, B);
    const c = await cluster.connect(n2, C);
    const ib = await b.subscribeWithReceipt('/user/42/queue/chat');
    const ic = await c.subscribeWithReceipt('/user/42/queue/chat');

    await a.sendWithReceipt(`/app/chat/${A}/${B}/42`, 'hi B, the intro paragraph is done');

    const [m] = await ib.wait(1);
    expect(m!.headers.destination).to.equal('/user/42/queue/chat');
    const chat = JSON.parse(m!.body) as Record<string, unknown>;
    expect(chat).to.include({ from: A, to: B, docId: '42', content: 'hi B, the intro paragraph is done' });
    expect(chat.id).to.be.a('string').and.not.equal('');
    expect(Date.parse(String(chat.sentAt))).to.be.closeTo(Date.now(), 60_000);
    // A later chat to C is a fence: had the first reached C, it would have come before this one.
    await a.sendWithReceipt(`/app/chat/${A}/${C}/42`, 'fence');
    const [fence] = await ic.wait(1);
    expect(JSON.parse(fence!.body)).to.include({ to: C, content: 'fence' });
    expect(ic.messages).to.have.length(1);
    expect(ib.messages).to.have.length(1);
  });

  it('delivers a client SEND to /user/{B}/queue/x from node 1 to B on node 3, with its custom headers', async () => {
    const [A, B] = uniqueUsers('A', 'B');
    const a = await cluster.connect(n1, A);
    const b = await cluster.connect(n3, B);
    const inbox = await b.subscribeWithReceipt('/user/queue/x');

    await a.sendWithReceipt(`/user/${B}/queue/x`, 'direct to B', { 'x-trace': 'abc-1', 'content-type': 'text/plain' });

    const [m] = await inbox.wait(1);
    expect(m!.body).to.equal('direct to B');
    expect(m!.headers.destination).to.equal('/user/queue/x');
    expect(m!.headers['x-trace']).to.equal('abc-1');
    expect(m!.headers['content-type']).to.equal('text/plain');
  });

  it('delivers a backend convertAndSendToUser (POST /api/users/{id}/messages) on node 2 to the user on node 3', async () => {
    const [B] = uniqueUsers('B');
    const b = await cluster.connect(n3, B);
    const inbox = await b.subscribeWithReceipt('/user/42/queue/chat');

    const res = await fetch(`${n2.http}/api/users/${B}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ destination: '/42/queue/chat', body: { from: 'support', content: 'we fixed it' } }),
    });
    expect(res.status).to.equal(202);
    expect(await res.json()).to.include({ status: 'routed' });

    const [m] = await inbox.wait(1);
    expect(m!.headers.destination).to.equal('/user/42/queue/chat');
    expect(JSON.parse(m!.body)).to.deep.equal({ from: 'support', content: 'we fixed it' });
  });

  it('delivers a message once to each session of a user connected to two nodes', async () => {
    const [A, B] = uniqueUsers('A', 'B');
    const a = await cluster.connect(n1, A);
    const b2 = await cluster.connect(n2, B);
    const b3 = await cluster.connect(n3, B);
    const i2 = await b2.subscribeWithReceipt('/user/queue/x');
    const i3 = await b3.subscribeWithReceipt('/user/queue/x');

    await a.sendWithReceipt(`/user/${B}/queue/x`, 'one');
    await a.sendWithReceipt(`/user/${B}/queue/x`, 'two');

    for (const inbox of [i2, i3]) {
      await inbox.wait(2);
      expect(inbox.bodies()).to.deep.equal(['one', 'two']);
    }
  });

  it("reaches a user's new session on another node at once, though the sender's node had the route cached", async () => {
    const [A, B] = uniqueUsers('A', 'B');
    const a = await cluster.connect(n1, A);
    const b2 = await cluster.connect(n2, B);
    const i2 = await b2.subscribeWithReceipt('/user/queue/x');
    await a.sendWithReceipt(`/user/${B}/queue/x`, 'first'); // node 1 now has B's route cached: [n2]
    await i2.wait(1);
    const b3 = await cluster.connect(n3, B);
    const i3 = await b3.subscribeWithReceipt('/user/queue/x');
    await a.sendWithReceipt(`/user/${B}/queue/x`, 'second'); // well within ROUTE_CACHE_MS
    expect((await i3.wait(1)).map((m) => m.body)).to.deep.equal(['second']);
    expect((await i2.wait(2)).map((m) => m.body)).to.deep.equal(['first', 'second']);
  });

  it('delivers a /topic broadcast to its subscribers on every node, the sender included, once each', async () => {
    const [A, B, C] = uniqueUsers('A', 'B', 'C');
    const topic = `/topic/news.${A}`;
    const a = await cluster.connect(n1, A);
    const b = await cluster.connect(n2, B);
    const c = await cluster.connect(n3, C);
    const inboxes = [
      await a.subscribeWithReceipt(topic),
      await b.subscribeWithReceipt(topic),
      await c.subscribeWithReceipt(topic),
    ];

    await b.sendWithReceipt(topic, 'one', { 'x-edition': 'morning' });
    await b.sendWithReceipt(topic, 'two');

    for (const inbox of inboxes) {
      const [m] = await inbox.wait(2);
      expect(inbox.bodies()).to.deep.equal(['one', 'two']);
      expect(m!.headers.destination).to.equal(topic);
      expect(m!.headers['x-edition']).to.equal('morning');
    }
  });

  it('delivers a broadcast to a pattern subscription on another node, naming the concrete destination', async () => {
    const [A, B] = uniqueUsers('A', 'B');
    const a = await cluster.connect(n1, A);
    const b = await cluster.connect(n3, B);
    const inbox = await b.subscribeWithReceipt(`/topic/boards/${A}/**`);

    await a.sendWithReceipt(`/topic/boards/${A}/cards/7`, '{"moved":3}');

    const [m] = await inbox.wait(1);
    expect(m!.headers.destination).to.equal(`/topic/boards/${A}/cards/7`);
    expect(m!.body).to.equal('{"moved":3}');
  });
});
