import { expect } from 'chai';
import { header } from '../../protocol/index.js';
import { openRaw } from '../helpers/raw-socket.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { waitFor } from '../helpers/wait.js';

describe('heart-beats', () => {
  let n: StartedNode;
  before(async () => {
    n = await startNode({ HEARTBEAT: '100,100', HEARTBEAT_GRACE: '2' });
  });
  after(async () => {
    await n.stop();
  });

  it('sends the beats it advertises', async () => {
    const s = await openRaw(n.url);
    s.send('CONNECT\naccept-version:1.2\nheart-beat:0,100\nlogin:hb\n\n\0');
    const connected = await s.next('CONNECTED');
    expect(header(connected, 'heart-beat')).to.equal('100,100');
    const before = s.raw.length;
    await waitFor(
      () => s.raw.slice(before).filter((m) => m.toString() === '\n').length >= 3,
      'three server heart-beats',
      2000,
    );
    s.close();
  });

  it('disconnects a client that stops sending after the negotiated interval plus grace', async () => {
    const s = await openRaw(n.url);
    s.send('CONNECT\naccept-version:1.2\nheart-beat:100,0\nlogin:silent\n\n\0');
    await s.next('CONNECTED');
    const started = Date.now();
    const error = await s.next('ERROR', 3000);
    expect(header(error, 'message')).to.equal('Session closed.');
    expect((await s.closed).code).to.equal(1002);
    expect(Date.now() - started).to.be.within(150, 2000);
  });

  it('keeps a client that beats alive', async () => {
    const s = await openRaw(n.url);
    s.send('CONNECT\naccept-version:1.2\nheart-beat:100,0\nlogin:beating\n\n\0');
    await s.next('CONNECTED');
    for (let i = 0; i < 8; i++) {
      s.send('\n');
      await new Promise((r) => setTimeout(r, 60));
    }
    s.send('SUBSCRIBE\nid:1\ndestination:/topic/x\nreceipt:alive\n\n\0');
    expect(header(await s.next('RECEIPT'), 'receipt-id')).to.equal('alive');
    s.close();
  });
});
