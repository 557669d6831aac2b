import { expect } from 'chai';
import { header } from '../../protocol/index.js';
import { connectRaw } from '../helpers/raw-socket.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient } from '../helpers/stomp-client.js';
import { delay } from '../helpers/wait.js';

describe('ACK, NACK and redelivery', () => {
  let n: StartedNode;
  before(async () => {
    n = await startNode();
  });
  after(async () => {
    await n.stop();
  });

  it("redelivers unacknowledged user messages to the user's next session, marked redelivered", async () => {
    const first = await connectClient(n.url, { login: 'ack1' });
    const inbox = await first.subscribeWithReceipt('/user/queue/work', { ack: 'client-individual' });
    for (const t of ['w1', 'w2', 'w3']) await n.node.template.convertAndSendToUser('ack1', '/queue/work', t);
    const got = await inbox.wait(3);
    expect(got[0]!.headers.ack).to.be.a('string');
    got[1]!.ack(); // only w2 is done
    await first.sendWithReceipt('/topic/flush');
    await first.disconnect();

    const second = await connectClient(n.url, { login: 'ack1' });
    const again = await second.subscribeWithReceipt('/user/queue/work', { ack: 'client-individual' });
    const redelivered = (await again.wait(2)).slice(0, 2);
    // A fence: a message sent after the replay; what came before it is all the replay brought.
    await n.node.template.convertAndSendToUser('ack1', '/queue/work', 'fence');
    await again.wait(3);
    expect(again.bodies()).to.deep.equal(['w1', 'w3', 'fence']);
    for (const m of redelivered) expect(m.headers.redelivered).to.equal('true');
    await second.disconnect();
  });

  it('acknowledges cumulatively in client mode', async () => {
    const c = await connectClient(n.url, { login: 'ack2' });
    const inbox = await c.subscribeWithReceipt('/user/queue/work', { ack: 'client' });
    for (const t of ['a', 'b', 'c']) await n.node.template.convertAndSendToUser('ack2', '/queue/work', t);
    const got = await inbox.wait(3);
    got[1]!.ack(); // settles a and b
    await c.sendWithReceipt('/topic/flush');
    await c.disconnect();
    const again = await connectClient(n.url, { login: 'ack2' });
    const left = await again.subscribeWithReceipt('/user/queue/work', { ack: 'client' });
    await left.wait(1);
    await n.node.template.convertAndSendToUser('ack2', '/queue/work', 'fence');
    await left.wait(2);
    expect(left.bodies()).to.deep.equal(['c', 'fence']);
    await again.disconnect();
  });

  it('redelivers a NACKed message on the same subscription, then dead-letters it', async () => {
    const c = await connectClient(n.url, { login: 'ack3' });
    const inbox = await c.subscribeWithReceipt('/user/queue/work', { ack: 'client-individual' });
    await n.node.template.convertAndSendToUser('ack3', '/queue/work', 'poison');
    for (let i = 1; i <= 4; i++) {
      const got = await inbox.wait(i);
      got[i - 1]!.nack();
    }
    await c.sendWithReceipt('/topic/flush');
    await n.node.template.convertAndSendToUser('ack3', '/queue/work', 'fence');
    await inbox.wait(5);
    expect(inbox.bodies()).to.deep.equal(['poison', 'poison', 'poison', 'poison', 'fence']);
    expect(inbox.messages.slice(1, 4).every((m) => m.headers.redelivered === 'true')).to.equal(true);
    const metrics = await n.node.metrics.registry.getSingleMetricAsString('stomp_dead_lettered_total');
    expect(metrics).to.match(/stomp_dead_lettered_total 1/);
    await c.disconnect();
  });

  it('accepts 1.1 ACKs by message-id and subscription', async () => {
    const s = await connectRaw(n.url, 'ack4', '1.1');
    s.send('SUBSCRIBE\nid:s1\ndestination:/user/queue/work\nack:client-individual\nreceipt:r1\n\n\0');
    await s.next('RECEIPT');
    await n.node.template.convertAndSendToUser('ack4', '/queue/work', 'x');
    const msg = await s.next('MESSAGE');
    expect(header(msg, 'ack')).to.equal(undefined); // the ack header is 1.2's
    s.send(`ACK\nsubscription:s1\nmessage-id:${header(msg, 'message-id')}\nreceipt:r2\n\n\0`);
    await s.next('RECEIPT');
    s.close();
    await s.closed;
    await delay(50);
    const again = await connectClient(n.url, { login: 'ack4' });
    const inbox = await again.subscribeWithReceipt('/user/queue/work');
    await n.node.template.convertAndSendToUser('ack4', '/queue/work', 'fence');
    await inbox.wait(1);
    expect(inbox.bodies()).to.deep.equal(['fence']);
    await again.disconnect();
  });
});

describe('transactions', () => {
  let n: StartedNode;
  before(async () => {
    n = await startNode();
  });
  after(async () => {
    await n.stop();
  });

  it('applies SENDs at COMMIT, in order, and none at ABORT', async () => {
    const c = await connectClient(n.url, { login: 'tx' });
    const inbox = await c.subscribeWithReceipt('/topic/tx');
    const t1 = c.client.begin();
    c.client.publish({ destination: '/topic/tx', body: 'one', headers: { transaction: t1.id } });
    c.client.publish({ destination: '/topic/tx', body: 'two', headers: { transaction: t1.id } });
    await c.sendWithReceipt('/topic/other');
    expect(inbox.messages).to.have.length(0);
    t1.commit();
    await inbox.wait(2);
    const t2 = c.client.begin();
    c.client.publish({ destination: '/topic/tx', body: 'never', headers: { transaction: t2.id } });
    t2.abort();
    await c.sendWithReceipt('/topic/tx', 'fence');
    await inbox.wait(3);
    expect(inbox.bodies()).to.deep.equal(['one', 'two', 'fence']);
    await c.disconnect();
  });

  it('applies ACKs at COMMIT', async () => {
    const c = await connectClient(n.url, { login: 'txack' });
    const inbox = await c.subscribeWithReceipt('/user/queue/t', { ack: 'client-individual' });
    await n.node.template.convertAndSendToUser('txack', '/queue/t', 'm');
    const [m] = await inbox.wait(1);
    const tx = c.client.begin();
    m!.ack({ transaction: tx.id });
    tx.abort(); // the ACK never happened
    await c.sendWithReceipt('/topic/flush');
    await c.disconnect();
    const again = await connectClient(n.url, { login: 'txack' });
    const redelivered = await again.subscribeWithReceipt('/user/queue/t');
    expect((await redelivered.wait(1))[0]!.body).to.equal('m');
    await again.disconnect();
  });

  it('applies none of a transaction when one of its frames is refused at COMMIT', async () => {
    const watcher = await connectClient(n.url, { login: 'txwatch' });
    const inbox = await watcher.subscribeWithReceipt('/topic/atomic');
    const s = await connectRaw(n.url, 'txatomic');
    s.send('BEGIN\ntransaction:t1\n\n\0');
    s.send('SEND\ndestination:/topic/atomic\ntransaction:t1\n\nfirst\0');
    s.send('SEND\ndestination:/topic/a/../atomic\ntransaction:t1\n\nsecond\0');
    s.send('COMMIT\ntransaction:t1\nreceipt:c\n\n\0');
    expect(header(await s.next('ERROR'), 'message')).to.contain('invalid destination');
    await s.closed;
    await watcher.sendWithReceipt('/topic/atomic', 'fence');
    await inbox.wait(1);
    expect(inbox.bodies()).to.deep.equal(['fence']);
    await watcher.disconnect();
  });

  it('answers COMMIT of an unknown transaction with an ERROR', async () => {
    const s = await connectRaw(n.url, 'txbad');
    s.send('COMMIT\ntransaction:nope\nreceipt:c1\n\n\0');
    const err = await s.next('ERROR');
    expect(header(err, 'message')).to.contain('nope');
    expect(header(err, 'receipt-id')).to.equal('c1');
    await s.closed;
  });
});
