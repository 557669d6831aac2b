import { expect } from 'chai';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient, type TestClient } from '../helpers/stomp-client.js';

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
    // A fence: a second subscription of the same session gets '2'; the unsubscribed one must not have.
    const fence = await b.subscribeWithReceipt('/topic/once');
    await a.sendWithReceipt('/topic/once', '2');
    await fence.wait(1);
    expect(inbox.bodies()).to.deep.equal(['1']);
  });

  it('keeps binary bodies intact and sends them as binary WebSocket messages', async () => {
    const inbox = await b.subscribeWithReceipt('/topic/bin');
    const bytes = new Uint8Array(256).map((_, i) => i);
    a.send('/topic/bin', bytes, { 'content-type': 'application/octet-stream' });
    const [m] = await inbox.wait(1);
    expect(Buffer.from(m!.binaryBody).equals(Buffer.from(bytes))).to.equal(true);
    expect(b.wire.at(-1)?.binary, 'a binary WebSocket message').to.equal(true);
  });

  it('writes a fanned-out message right to each subscriber: binary or text, headers escaped for each version', async () => {
    // The shared end of a fanned-out MESSAGE is encoded once per message and version: every
    // subscriber, whichever came first, must still get its own correct frame.
    const v10 = await connectClient(n.url, { login: 'old', versions: ['1.0'] });
    const v12 = await connectClient(n.url, { login: 'new', versions: ['1.2'] });
    try {
      const inboxes = [
        await a.subscribeWithReceipt('/topic/mixed'),
        await v10.subscribeWithReceipt('/topic/mixed'),
        await b.subscribeWithReceipt('/topic/mixed'),
        await v12.subscribeWithReceipt('/topic/mixed'),
      ];
      const bytes = new Uint8Array(300).map((_, i) => (i * 7) % 256);
      a.send('/topic/mixed', bytes, { 'content-type': 'application/octet-stream', 'x-note': 'a:b' });
      a.send('/topic/mixed', 'plain text', { 'content-type': 'text/plain', 'x-note': 'c:d' });
      const clients = [a, v10, b, v12];
      for (const [i, inbox] of inboxes.entries()) {
        const [bin, text] = await inbox.wait(2);
        expect(Buffer.from(bin!.binaryBody).equals(Buffer.from(bytes)), `subscriber ${i}: bytes`).to.equal(true);
        expect(bin!.headers['x-note'], `subscriber ${i}`).to.equal('a:b');
        expect(text!.body).to.equal('plain text');
        expect(text!.headers['x-note']).to.equal('c:d');
        expect(text!.headers.subscription).to.equal(inbox.subscription.id);
        // On the wire: binary, then text WebSocket messages; `:` escaped as \c in 1.2, verbatim in 1.0.
        const [wireBin, wireText] = clients[i]!.wire.filter((w) => w.text.includes('destination:/topic/mixed'));
        expect([wireBin?.binary, wireText?.binary], `subscriber ${i}: WebSocket message types`).to.deep.equal([
          true,
          false,
        ]);
        expect(wireText!.text, `subscriber ${i}`).to.include(i === 1 ? '\nx-note:c:d\n' : '\nx-note:c\\cd\n');
        expect(wireText!.text).to.include(`\nsubscription:${inbox.subscription.id}\n`);
      }
    } finally {
      await v10.disconnect();
      await v12.disconnect();
    }
  });

  it('drops a SEND to a destination with no known prefix without an ERROR', async () => {
    await a.sendWithReceipt('/nowhere/x', 'lost');
    expect(a.errors).to.have.length(0);
  });
});
