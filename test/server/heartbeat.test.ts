import { expect } from 'chai';
import { spawn } from 'node:child_process';
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

  it('reads a frame split around its own heart-beats, and frames after an idle spell by the negotiated version', async () => {
    // STOMP 1.0 unescapes nothing: a header value `a\\cb` stays as written only if the decoder
    // made after an idle spell (the server let its first one go) still knows the version.
    const s = await openRaw(n.url, ['v10.stomp']);
    s.send('CONNECT\naccept-version:1.0\nheart-beat:0,100\nlogin:idle-decoder\n\n\0');
    await s.next('CONNECTED');
    const beats = () => s.raw.filter((m) => m.toString() === '\n').length;
    s.send('SUBSCRIBE\nid:1\ndestination:/topic/idle-decoder\nreceipt:r1\n\n\0');
    await s.next('RECEIPT');
    const idle = beats();
    await waitFor(() => beats() >= idle + 2, 'two server heart-beats while the session is idle', 2000);
    // The client's own beats, then a frame.
    s.send('\n');
    s.send('\r\n');
    s.send('SEND\ndestination:/topic/idle-decoder\nx-raw:a\\cb\n\none\0');
    await s.next('MESSAGE');
    const wire = s.raw.map((b) => b.toString()).find((t) => t.startsWith('MESSAGE'));
    expect(wire).to.contain('\nx-raw:a\\cb\n');
    // Half a frame, then server beats, then the rest: the half must not be let go.
    s.send('SEND\ndestination:/topic/idle-');
    const half = beats();
    await waitFor(() => beats() >= half + 2, 'two server heart-beats with half a frame read', 2000);
    s.send('decoder\n\ntwo\0');
    expect((await s.next('MESSAGE')).body.toString()).to.equal('two');
    // A CR whose LF comes after server beats is still one EOL.
    s.send('\r');
    const cr = beats();
    await waitFor(() => beats() >= cr + 2, 'two server heart-beats with a CR read', 2000);
    s.send('\nSEND\ndestination:/topic/idle-decoder\n\nthree\0');
    expect((await s.next('MESSAGE')).body.toString()).to.equal('three');
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

  it('keeps a client that beat while the node was stalled (its beats were waiting unread)', async function () {
    // The client beats from a process of its own, so it goes on beating while this one is busy.
    const client = spawn(process.execPath, ['-e', BEATING_CLIENT, n.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    client.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => out.includes('connected'), 'the client to connect', 5000);
      // Four times the 200 ms the node waits for a beat (100 ms × grace 2), without a turn of the loop.
      const until = Date.now() + 800;
      while (Date.now() < until) {
        /* a stall: a burst of work, a long GC */
      }
      await new Promise((r) => setTimeout(r, 400));
      expect(out, 'the node closed a client whose beats were in its socket').not.to.include('closed');
    } finally {
      client.kill();
    }
  });
});

/** A raw STOMP client beating every 50 ms: prints `connected`, and `closed <code>` if the node closes it. */
const BEATING_CLIENT = `
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[1]);
ws.on('open', () => ws.send('CONNECT\\naccept-version:1.2\\nheart-beat:100,0\\nlogin:stalled\\n\\n\\0'));
ws.on('message', (d) => {
  if (String(d).startsWith('CONNECTED')) {
    setInterval(() => ws.send('\\n'), 50);
    console.log('connected');
  }
});
ws.on('close', (code) => { console.log('closed ' + code); process.exit(0); });
`;
