import { expect } from 'chai';
import { MessageRejection } from '../../server/messaging/app-router.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient, type TestClient } from '../helpers/stomp-client.js';

describe("/app handlers and the seed's chat", () => {
  let n: StartedNode;
  let a: TestClient;
  let b: TestClient;
  before(async () => {
    n = await startNode();
    n.node.app
      .onMessage('/greet/{name}', ({ message }) => ({ greeting: `hello ${message.vars.name}`, from: message.user }))
      .onMessage('/fail', () => {
        throw new Error('boom');
      })
      .onMessage('/reject', () => {
        throw new MessageRejection('not allowed today');
      })
      .onMessage('/echo-me', async ({ message, sendToUser }) => {
        await sendToUser('/queue/echo', message.body.toString());
      })
      .onSubscribe('/init', ({ message }) => ({ welcome: message.user }));
    a = await connectClient(n.url, { login: 'A' });
    b = await connectClient(n.url, { login: 'B' });
  });
  after(async () => {
    await a.disconnect();
    await b.disconnect();
    await n.stop();
  });

  it("delivers the seed's chat: A sends /app/chat/A/B/42, B on /user/42/queue/chat gets the JSON", async () => {
    const inbox = await b.subscribeWithReceipt('/user/42/queue/chat');
    await a.sendWithReceipt('/app/chat/A/B/42', 'hi B, about section 2');
    const [m] = await inbox.wait(1);
    expect(m!.headers.destination).to.equal('/user/42/queue/chat');
    const chat = JSON.parse(m!.body) as Record<string, string>;
    expect(chat).to.include({ from: 'A', to: 'B', docId: '42', content: 'hi B, about section 2' });
    expect(chat.id).to.be.a('string').and.not.empty;
    expect(Date.parse(chat.sentAt!)).to.be.closeTo(Date.now(), 10_000);
  });

  it('rejects a spoofed chat "from" on the sender\'s /user/queue/errors and delivers nothing', async () => {
    const errors = await a.subscribeWithReceipt('/user/queue/errors');
    const inbox = await b.subscribeWithReceipt('/user/43/queue/chat');
    await a.sendWithReceipt('/app/chat/B/B/43', 'pretending to be B');
    const [e] = await errors.wait(1);
    expect(JSON.parse(e!.body)).to.have.property('error').that.contains('from');
    // A fence: A's honest message, sent after, is the only one B gets.
    await a.sendWithReceipt('/app/chat/A/B/43', 'honest');
    await inbox.wait(1);
    expect(inbox.messages.map((m) => (JSON.parse(m.body) as { content: string }).content)).to.deep.equal(['honest']);
    expect(a.errors).to.have.length(0); // the connection stays open
  });

  it('chats with a user whose id contains /, written %2F in the destination as in Spring', async () => {
    const eve = await connectClient(n.url, { login: 'org/eve' });
    const toEve = await eve.subscribeWithReceipt('/user/44/queue/chat');
    const toB = await b.subscribeWithReceipt('/user/44/queue/chat');
    await a.sendWithReceipt('/app/chat/A/org%2Feve/44', 'hello eve');
    await eve.sendWithReceipt('/app/chat/org%2Feve/B/44', 'hello B');
    expect(JSON.parse((await toEve.wait(1))[0]!.body)).to.include({ from: 'A', to: 'org/eve', content: 'hello eve' });
    expect(JSON.parse((await toB.wait(1))[0]!.body)).to.include({ from: 'org/eve', to: 'B', content: 'hello B' });
    await eve.disconnect();
  });

  it("sends a handler's return value to /topic + the lookup path, with {var} bound", async () => {
    const inbox = await b.subscribeWithReceipt('/topic/greet/world');
    await a.sendWithReceipt('/app/greet/world');
    expect(JSON.parse((await inbox.wait(1))[0]!.body)).to.deep.equal({ greeting: 'hello world', from: 'A' });
  });

  it('answers an unmatched /app destination and a failing handler on /user/queue/errors, connection open', async () => {
    const errors = await a.subscribeWithReceipt('/user/queue/errors');
    await a.sendWithReceipt('/app/no/such/handler');
    await a.sendWithReceipt('/app/fail');
    await a.sendWithReceipt('/app/reject');
    const msgs = (await errors.wait(3)).map((m) => JSON.parse(m.body) as { error: string; destination: string });
    expect(msgs[0]).to.deep.equal({
      error: 'no handler for /app/no/such/handler',
      destination: '/app/no/such/handler',
    });
    expect(msgs[1]!.error).to.equal('the handler failed'); // internals are not shown
    expect(msgs[2]!.error).to.equal('not allowed today');
    expect(a.errors).to.have.length(0);
  });

  it("replies to the sender's own sessions with sendToUser (@SendToUser)", async () => {
    const inbox = await a.subscribeWithReceipt('/user/queue/echo');
    await a.sendWithReceipt('/app/echo-me', 'ping');
    expect((await inbox.wait(1))[0]!.body).to.equal('ping');
  });

  it('answers a SUBSCRIBE to an /app destination once, to that session (@SubscribeMapping)', async () => {
    const inbox = a.subscribe('/app/init');
    const [m] = await inbox.wait(1);
    expect(m!.headers.destination).to.equal('/app/init');
    expect(JSON.parse(m!.body)).to.deep.equal({ welcome: 'A' });
  });
});
