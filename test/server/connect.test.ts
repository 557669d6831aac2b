import { expect } from 'chai';
import { header } from '../../protocol/index.js';
import { connectRaw, openRaw } from '../helpers/raw-socket.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient } from '../helpers/stomp-client.js';

describe('CONNECT and CONNECTED', () => {
  let n: StartedNode;
  before(async () => {
    n = await startNode();
  });
  after(async () => {
    await n.stop();
  });

  for (const version of ['1.0', '1.1', '1.2']) {
    it(`connects a STOMP.js client speaking only ${version}`, async () => {
      const c = await connectClient(n.url, { login: 'alice', versions: [version] });
      expect(c.connected.headers.version).to.equal(version);
      expect(c.connected.headers['user-name']).to.equal('alice');
      await c.disconnect();
    });
  }

  it('sends version, heart-beat, server, session and user-name as Spring frontends read them', async () => {
    const c = await connectClient(n.url, { login: 'bob' });
    const h = c.connected.headers;
    expect(h.version).to.equal('1.2');
    expect(h['heart-beat']).to.equal('10000,10000');
    expect(h.server).to.match(/^stomp-relay\/\d+\.\d+\.\d+$/);
    expect(h.session).to.be.a('string').and.not.empty;
    expect(h['user-name']).to.equal('bob');
    await c.disconnect();
  });

  it('picks the subprotocol the client offers first among v12/v11/v10.stomp', async () => {
    const s = await openRaw(n.url, ['v11.stomp', 'v12.stomp']);
    expect(s.ws.protocol).to.equal('v11.stomp');
    s.close();
    const none = await openRaw(n.url, []);
    expect(none.ws.protocol).to.equal('');
    none.close();
  });

  it('treats a missing accept-version as 1.0, and STOMP like CONNECT', async () => {
    const s = await openRaw(n.url);
    s.send('STOMP\nlogin:carol\n\n\0');
    const connected = await s.next('CONNECTED');
    expect(header(connected, 'version')).to.equal('1.0');
    s.close();
  });

  it('answers an unsupported version with an ERROR naming the supported ones, then closes', async () => {
    const s = await openRaw(n.url);
    s.send('CONNECT\naccept-version:2.0\n\n\0');
    const error = await s.next('ERROR');
    expect(header(error, 'message')).to.contain('1.2,1.1,1.0');
    expect((await s.closed).code).to.equal(1002);
  });

  it('ignores unknown CONNECT headers such as CSRF tokens', async () => {
    const c = await connectClient(n.url, {
      login: 'dave',
      connectHeaders: { 'X-CSRF-TOKEN': 'abc', Authorization: 'whatever' },
    });
    expect(c.connected.headers['user-name']).to.equal('dave');
    await c.disconnect();
  });

  it('rejects a frame before CONNECT and a second CONNECT', async () => {
    const s = await openRaw(n.url);
    s.send('SUBSCRIBE\nid:1\ndestination:/topic/x\n\n\0');
    expect(header(await s.next('ERROR'), 'message')).to.contain('Unknown session');
    expect((await s.closed).code).to.equal(1002);

    const t = await connectRaw(n.url, 'erin');
    t.send('CONNECT\naccept-version:1.2\n\n\0');
    expect(header(await t.next('ERROR'), 'message')).to.equal('Session already exists');
    await t.closed;
  });

  it('answers DISCONNECT with its RECEIPT, and without a receipt with ERROR "Session closed."', async () => {
    const s = await connectRaw(n.url, 'frank');
    s.send('DISCONNECT\nreceipt:bye-1\n\n\0');
    expect(header(await s.next('RECEIPT'), 'receipt-id')).to.equal('bye-1');
    s.close();
    const t = await connectRaw(n.url, 'frank');
    t.send('DISCONNECT\n\n\0');
    expect(header(await t.next('ERROR'), 'message')).to.equal('Session closed.');
    expect((await t.closed).code).to.equal(1002);
  });

  it('gives an anonymous session (no login) its session id as user, without user-name', async () => {
    const c = await connectClient(n.url);
    expect(c.connected.headers['user-name']).to.equal(undefined);
    const inbox = await c.subscribeWithReceipt('/user/queue/reply');
    await n.node.template.convertAndSendToUser(c.connected.headers.session!, '/queue/reply', 'hi');
    expect((await inbox.wait(1))[0]!.body).to.equal('hi');
    await c.disconnect();
  });
});
