import { expect } from 'chai';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient, type TestClient } from '../helpers/stomp-client.js';
import type { PresenceNotice } from '../../server/messaging/presence-notices.js';
import { deferred, waitFor } from '../helpers/wait.js';
import { MemoryRegistry } from '../../server/registry/memory-registry.js';
import type { DocId, SessionId, UserId } from '../../server/ids.js';

describe('/user destinations', () => {
  let n: StartedNode;
  const clients: TestClient[] = [];
  const connect = async (login: string) => {
    const c = await connectClient(n.url, { login });
    clients.push(c);
    return c;
  };
  before(async () => {
    n = await startNode();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  });
  after(async () => {
    await n.stop();
  });

  it('delivers convertAndSendToUser to every session of the user, with the destination it subscribed with', async () => {
    const b1 = await connect('bea');
    const b2 = await connect('bea');
    const i1 = await b1.subscribeWithReceipt('/user/queue/notice');
    const i2 = await b2.subscribeWithReceipt('/user/queue/notice');
    const result = await n.node.template.convertAndSendToUser('bea', '/queue/notice', { n: 1 });
    expect(result).to.equal('routed');
    for (const inbox of [i1, i2]) {
      const [m] = await inbox.wait(1);
      expect(m!.headers.destination).to.equal('/user/queue/notice');
      expect(m!.headers['content-type']).to.equal('application/json');
      expect(JSON.parse(m!.body)).to.deep.equal({ n: 1 });
    }
  });

  it('delivers a client SEND to /user/{name}/... to that user only', async () => {
    const a = await connect('ann');
    const b = await connect('ben');
    const c = await connect('cid');
    const ib = await b.subscribeWithReceipt('/user/queue/chat');
    const ic = await c.subscribeWithReceipt('/user/queue/chat');
    await a.sendWithReceipt('/user/ben/queue/chat', 'for ben');
    expect((await ib.wait(1))[0]!.body).to.equal('for ben');
    // A fence: cid's own message, sent after; nothing for ben may arrive before it.
    await a.sendWithReceipt('/user/cid/queue/chat', 'for cid');
    await ic.wait(1);
    expect(ic.bodies()).to.deep.equal(['for cid']);
  });

  it("never lets a client receive another user's messages, whatever it subscribes to", async () => {
    const victim = await connect('vic');
    const thief = await connect('mal');
    const iv = await victim.subscribeWithReceipt('/user/queue/secret');
    // `/user/vic/queue/secret` is the thief's own `/vic/queue/secret`, as in Spring.
    const stolen = [
      await thief.subscribeWithReceipt('/user/vic/queue/secret'),
      await thief.subscribeWithReceipt('/user/queue/secret'),
      await thief.subscribeWithReceipt('/user/**'),
      await thief.subscribeWithReceipt('/queue/secret'),
      await thief.subscribeWithReceipt('/topic/**'),
    ];
    await n.node.template.convertAndSendToUser('vic', '/queue/secret', 'pin 1234');
    expect((await iv.wait(1))[0]!.body).to.equal('pin 1234');
    // A fence: the thief's own message, sent after; the victim's may not have reached any of its subscriptions before it.
    await n.node.template.convertAndSendToUser('mal', '/queue/secret', 'fence');
    await stolen[1]!.wait(1);
    for (const s of stolen) expect(s.bodies()).to.not.include('pin 1234');
  });

  it('routes per document: /user/{docId}/queue/chat reaches only sessions subscribed for that document', async () => {
    const u = await connect('dora');
    const i42 = await u.subscribeWithReceipt('/user/42/queue/chat');
    const i7 = await u.subscribeWithReceipt('/user/7/queue/chat');
    await n.node.template.convertAndSendToUser('dora', '/42/queue/chat', 'for 42');
    const [m] = await i42.wait(1);
    expect(m!.headers.destination).to.equal('/user/42/queue/chat');
    await n.node.template.convertAndSendToUser('dora', '/7/queue/chat', 'for 7');
    await i7.wait(1);
    expect(i7.bodies()).to.deep.equal(['for 7']);
  });

  it('announces joins and leaves of a document on /topic/docs/{docId}/presence', async () => {
    const watcher = await connect('wendy');
    const events = await watcher.subscribeWithReceipt('/topic/docs/9/presence');
    /** The document's users as the notices so far tell it, applied in order. */
    const present = () => {
      const users = new Set<string>();
      for (const m of events.messages) {
        const notice = JSON.parse(m.body) as PresenceNotice;
        expect(notice).to.include({ type: 'presence', docId: '9', node: n.node.nodeId });
        for (const u of notice.joined) users.add(u);
        for (const u of notice.left) users.delete(u);
      }
      return [...users].sort().join(',');
    };
    await waitFor(() => present() === 'wendy', 'wendy’s own join (her presence subscription is in document 9)');
    const joiner = await connect('jules');
    const sub = await joiner.subscribeWithReceipt('/user/9/queue/chat');
    await waitFor(() => present() === 'jules,wendy', 'jules to join');
    sub.subscription.unsubscribe();
    await waitFor(() => present() === 'wendy', 'jules to leave');
  });

  it('keeps a session in a document while any of its subscriptions to it remains', async () => {
    const jo = await connect('joan');
    const chat = await jo.subscribeWithReceipt('/user/12/queue/chat');
    const topic = await jo.subscribeWithReceipt('/topic/docs/12/presence');
    const sessionsIn12 = async () =>
      (await n.node.registry.presence('12')).find((e) => e.userId === 'joan')?.sessions ?? 0;
    expect(await sessionsIn12()).to.equal(1);
    // An UNSUBSCRIBE's RECEIPT comes once its registry work is done.
    const unsubscribe = (inbox: typeof chat, receipt: string) => {
      const done = new Promise((resolve) => jo.client.watchForReceipt(receipt, resolve));
      inbox.subscription.unsubscribe({ receipt });
      return done;
    };
    await unsubscribe(chat, 'leave-chat');
    expect(await sessionsIn12()).to.equal(1, 'still in document 12 by its presence subscription');
    await unsubscribe(topic, 'leave-topic');
    expect(await sessionsIn12()).to.equal(0);
  });

  it('encodes a user name containing / as %2F, as Spring does', async () => {
    const u = await connect('org/eve');
    const inbox = await u.subscribeWithReceipt('/user/queue/x');
    const sender = await connect('sam');
    await sender.sendWithReceipt('/user/org%2Feve/queue/x', 'slash');
    expect((await inbox.wait(1))[0]!.body).to.equal('slash');
  });

  it('keeps messages for an offline user and delivers them, in order, at the next subscription', async () => {
    const results = [];
    for (const text of ['one', 'two', 'three'])
      results.push(await n.node.template.convertAndSendToUser('olga', '/queue/inbox', text));
    expect(results).to.deep.equal(['stored', 'stored', 'stored']);
    const o = await connect('olga');
    const inbox = await o.subscribeWithReceipt('/user/queue/inbox');
    await inbox.wait(3);
    await n.node.template.convertAndSendToUser('olga', '/queue/inbox', 'live');
    await inbox.wait(4);
    expect(inbox.bodies()).to.deep.equal(['one', 'two', 'three', 'live']);
  });

  it('delivers a message stored while the subscription was joining its document (the inbox is taken after the join)', async () => {
    /** A registry whose document joins wait for the test: the moment a storm's busy Redis would make. */
    class SlowJoins extends MemoryRegistry {
      readonly started = deferred<void>();
      readonly gate = deferred<void>();
      override async joinDoc(docId: DocId, userId: UserId, sessionId: SessionId): Promise<void> {
        this.started.resolve();
        await this.gate.promise;
        return super.joinDoc(docId, userId, sessionId);
      }
    }
    const registry = new SlowJoins('slow-joins');
    const slow = await startNode({ NODE_ID: 'slow-joins' }, { registry });
    try {
      const rita = await connectClient(slow.url, { login: 'rita' });
      clients.push(rita);
      const subscribed = rita.subscribeWithReceipt('/user/7/queue/chat');
      await registry.started.promise;
      // Not in document 7 yet: the message is kept for her, and no node is told to take it.
      expect(await slow.node.template.convertAndSendToUser('rita', '/7/queue/chat', 'between')).to.equal('stored');
      registry.gate.resolve();
      const inbox = await subscribed;
      await inbox.wait(1);
      expect(inbox.bodies()).to.deep.equal(['between']);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.disconnect()));
      await slow.stop();
    }
  });
});
