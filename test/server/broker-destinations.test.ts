import { expect } from 'chai';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient, type TestClient } from '../helpers/stomp-client.js';
import { delay } from '../helpers/wait.js';

describe('/topic and /queue broker destinations', () => {
  let n: StartedNode;
  let a: TestClient;
  let b: TestClient;
  before(async () => {
    n = await startNode();
    a = await connectClient(n.url, { login: 'a' });
    b = await connectClient(n.url, { login: 'b' });
  });
  after(async () => {
    await a.disconnect();
    await b.disconnect();
    await n.stop();
  });

  it('delivers a SEND to every subscriber, the sender too, with its custom headers', async () => {
    const ia = await a.subscribeWithReceipt('/topic/news');
    const ib = await b.subscribeWithReceipt('/topic/news');
    await a.sendWithReceipt('/topic/news', 'hello', { 'x-trace': 't1', 'content-type': 'text/plain' });
    const [ma] = await ia.wait(1);
    const [mb] = await ib.wait(1);
    for (const m of [ma!, mb!]) {
      expect(m.body).to.equal('hello');
      expect(m.headers.destination).to.equal('/topic/news');
      expect(m.headers['x-trace']).to.equal('t1');
      expect(m.headers['content-type']).to.equal('text/plain');
      expect(m.headers['message-id']).to.be.a('string').and.not.empty;
    }
    expect(ma!.headers.subscription).to.equal(ia.subscription.id);
    expect(ma!.headers['message-id']).to.equal(mb!.headers['message-id']);
  });

  it('treats /queue like /topic: every subscriber gets its copy (Spring SimpleBroker)', async () => {
    const ia = await a.subscribeWithReceipt('/queue/jobs');
    const ib = await b.subscribeWithReceipt('/queue/jobs');
    await b.sendWithReceipt('/queue/jobs', 'job-1');
    expect((await ia.wait(1))[0]!.body).to.equal('job-1');
    expect((await ib.wait(1))[0]!.body).to.equal('job-1');
  });

  it('matches Ant-style pattern subscriptions and names the concrete destination', async () => {
    const inbox = await b.subscribeWithReceipt('/topic/docs/*/edits');
    const deep = await b.subscribeWithReceipt('/topic/feed/**');
    await a.sendWithReceipt('/topic/docs/42/edits', 'e1');
    await a.sendWithReceipt('/topic/feed/x/y/z', 'f1');
    expect((await inbox.wait(1))[0]!.headers.destination).to.equal('/topic/docs/42/edits');
    expect((await deep.wait(1))[0]!.headers.destination).to.equal('/topic/feed/x/y/z');
  });

  it('stops delivering after UNSUBSCRIBE', async () => {
    const inbox = await b.subscribeWithReceipt('/topic/once');
    await a.sendWithReceipt('/topic/once', '1');
    await inbox.wait(1);
    inbox.subscription.unsubscribe();
    await b.sendWithReceipt('/topic/none', 'flush'); // orders after the UNSUBSCRIBE
    await a.sendWithReceipt('/topic/once', '2');
    await delay(100);
    expect(inbox.bodies()).to.deep.equal(['1']);
  });

  it('keeps binary bodies intact and sends them as binary WebSocket messages', async () => {
    const inbox = await b.subscribeWithReceipt('/topic/bin');
    const bytes = new Uint8Array(256).map((_, i) => i);
    a.send('/topic/bin', bytes, { 'content-type': 'application/octet-stream' });
    const [m] = await inbox.wait(1);
    expect(m!.isBinaryBody).to.equal(true);
    expect(Buffer.from(m!.binaryBody).equals(Buffer.from(bytes))).to.equal(true);
  });

  it('drops a SEND to a destination with no known prefix without an ERROR', async () => {
    await a.sendWithReceipt('/nowhere/x', 'lost');
    expect(a.errors).to.have.length(0);
  });
});
