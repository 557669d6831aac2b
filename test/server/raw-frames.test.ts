import { expect } from 'chai';
import { header } from '../../protocol/index.js';
import { connectRaw } from '../helpers/raw-socket.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient } from '../helpers/stomp-client.js';

describe('raw STOMP over WebSocket', () => {
  let n: StartedNode;
  before(async () => {
    n = await startNode({ MAX_FRAME_BYTES: '4096' });
  });
  after(async () => {
    await n.stop();
  });

  it('joins a frame split over several WebSocket messages', async () => {
    const s = await connectRaw(n.url, 'split');
    const frame = 'SUBSCRIBE\nid:1\ndestination:/topic/split\nreceipt:r1\n\n\0';
    for (const part of [frame.slice(0, 5), frame.slice(5, 20), frame.slice(20)]) s.send(part);
    expect(header(await s.next('RECEIPT'), 'receipt-id')).to.equal('r1');
    s.close();
  });

  it('handles several frames, heart-beat EOLs and CRLF line ends in one message', async () => {
    const s = await connectRaw(n.url, 'multi');
    s.send(
      '\n\r\nSUBSCRIBE\r\nid:1\r\ndestination:/topic/m\r\n\r\n\0\n' +
        'SEND\ndestination:/topic/m\ncontent-length:5\n\na\0b\0c\0\n' +
        'SEND\ndestination:/topic/m\nreceipt:done\n\nplain\0',
    );
    expect(header(await s.next('RECEIPT'), 'receipt-id')).to.equal('done');
    const first = await s.next('MESSAGE');
    expect(first.body.equals(Buffer.from('a\0b\0c'))).to.equal(true);
    expect(header(first, 'content-length')).to.equal('5');
    expect((await s.next('MESSAGE')).body.toString()).to.equal('plain');
    s.close();
  });

  it('sends RECEIPTs in the order of their frames, also once an earlier run of RECEIPTs is out', async () => {
    const s = await connectRaw(n.url, 'order');
    // A user SUBSCRIBE's receipt waits for its inbox take; a SEND to a topic nobody holds has
    // nothing to wait for, so only the session's chain keeps its RECEIPT behind.
    const run = (k: number) =>
      `SUBSCRIBE\nid:u${k}\ndestination:/user/queue/o${k}\nreceipt:sub-${k}\n\n\0` +
      `SEND\ndestination:/topic/none\nreceipt:send-${k}\n\nx\0`;
    const receipts = async (count: number) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push(header(await s.next('RECEIPT'), 'receipt-id') ?? '');
      return ids;
    };
    s.send(run(1));
    expect(await receipts(2)).to.deep.equal(['sub-1', 'send-1']);
    s.send(run(2) + run(3));
    expect(await receipts(4)).to.deep.equal(['sub-2', 'send-2', 'sub-3', 'send-3']);
    s.close();
  });

  it('escapes and unescapes header values per STOMP 1.2', async () => {
    const s = await connectRaw(n.url, 'esc');
    s.send('SUBSCRIBE\nid:1\ndestination:/topic/esc\n\n\0');
    s.send('SEND\ndestination:/topic/esc\nx-odd:a\\cb\\nc\\\\d\\re\nreceipt:e\n\nbody\0');
    await s.next('RECEIPT');
    const msg = await s.next('MESSAGE');
    expect(header(msg, 'x-odd')).to.equal('a:b\nc\\d\re');
    const wire = s.raw.map((b) => b.toString()).find((t) => t.startsWith('MESSAGE'));
    expect(wire).to.contain('x-odd:a\\cb\\nc\\\\d\\re\n');
    s.close();
  });

  it('answers an unknown command with an ERROR and closes with 1002', async () => {
    const s = await connectRaw(n.url, 'unknown');
    s.send('HELLO\n\n\0');
    expect(header(await s.next('ERROR'), 'message')).to.match(/HELLO/);
    expect((await s.closed).code).to.equal(1002);
  });

  // STOMP 1.2 "Frames and Headers": these headers are required; the frame is refused, never
  // acknowledged (a RECEIPT for a SEND that went nowhere would break "accepted means kept").
  const missing: [string, string, string][] = [
    ['SEND without destination', 'SEND\nreceipt:r\n\nlost\0', 'destination'],
    [
      'SEND in a transaction without destination',
      'BEGIN\ntransaction:t\n\n\0SEND\ntransaction:t\nreceipt:r\n\nlost\0',
      'destination',
    ],
    ['SUBSCRIBE without destination', 'SUBSCRIBE\nid:1\nreceipt:r\n\n\0', 'destination'],
    ['SUBSCRIBE without id', 'SUBSCRIBE\ndestination:/topic/x\nreceipt:r\n\n\0', 'id'],
    ['UNSUBSCRIBE without id', 'UNSUBSCRIBE\nreceipt:r\n\n\0', 'id'],
    ['ACK without id', 'ACK\nreceipt:r\n\n\0', 'id'],
    ['BEGIN without transaction', 'BEGIN\nreceipt:r\n\n\0', 'transaction'],
  ];
  for (const [what, frames, name] of missing) {
    it(`answers ${what} with an ERROR naming '${name}', carrying the receipt-id, then closes with 1002`, async () => {
      const s = await connectRaw(n.url, 'missing');
      s.send(frames);
      const err = await s.next('ERROR');
      expect(header(err, 'message')).to.match(new RegExp(`needs a '${name}' header`));
      expect(header(err, 'receipt-id')).to.equal('r');
      expect((await s.closed).code).to.equal(1002);
      expect(
        s.frames.map((f) => f.command),
        'never a RECEIPT',
      ).to.not.include('RECEIPT');
    });
  }

  it('answers a body on a frame other than SEND with an ERROR', async () => {
    const s = await connectRaw(n.url, 'body');
    s.send('SUBSCRIBE\nid:1\ndestination:/topic/x\n\nnot allowed\0');
    expect(header(await s.next('ERROR'), 'message')).to.contain("shouldn't have a payload");
    await s.closed;
  });

  it('passes a frame just under the size limit and refuses one over it', async () => {
    const c = await connectClient(n.url, { login: 'big' });
    const inbox = await c.subscribeWithReceipt('/topic/big');
    const fits = 'x'.repeat(4096 - 200);
    await c.sendWithReceipt('/topic/big', fits);
    expect((await inbox.wait(1))[0]!.body).to.equal(fits);
    await c.disconnect();

    const s = await connectRaw(n.url, 'big2');
    s.send(`SEND\ndestination:/topic/big\n\n${'y'.repeat(5000)}\0`);
    expect(header(await s.next('ERROR'), 'message')).to.match(/limit of 4096 bytes/);
    expect((await s.closed).code).to.equal(1002);
    s.close();
    const t = await connectRaw(n.url, 'big3');
    t.send(`SEND\ndestination:/topic/big\ncontent-length:999999\n\n`);
    expect(header(await t.next('ERROR'), 'message')).to.match(/content-length/);
    await t.closed;
  });

  it('keeps other sessions working while one is cut off for garbage', async () => {
    const good = await connectClient(n.url, { login: 'good' });
    const inbox = await good.subscribeWithReceipt('/topic/ok');
    const bad = await connectRaw(n.url, 'bad');
    bad.send(Buffer.from([0x00, 0xff, 0x0d, 0x41, 0x0a, 0x00]));
    await bad.closed;
    await good.sendWithReceipt('/topic/ok', 'still here');
    expect((await inbox.wait(1))[0]!.body).to.equal('still here');
    await good.disconnect();
  });
});
