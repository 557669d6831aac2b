import { expect } from 'chai';
import WebSocket from 'ws';
import { FrameDecoder, header, type Frame } from '../../protocol/index.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { waitFor } from '../helpers/wait.js';

/** A raw `ws` STOMP client that keeps, per MESSAGE, whether it came as a binary WebSocket message. */
interface Received {
  readonly frame: Frame;
  readonly isBinary: boolean;
}

async function rawClient(url: string, login: string, version = '1.2') {
  // `ws` checks that a text message is valid UTF-8 and fails the connection (1007) otherwise, as browsers do.
  const ws = new WebSocket(url, [`v${version.replace('.', '')}.stomp`]);
  const received: Received[] = [];
  const decoder = new FrameDecoder({ maxFrameBytes: 1024 * 1024 });
  let closed: { code: number } | undefined;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    for (const e of decoder.push(data)) if (e.kind === 'frame') received.push({ frame: e.frame, isBinary });
  });
  ws.on('close', (code) => (closed = { code }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(`CONNECT\naccept-version:${version}\nhost:localhost\nlogin:${login}\n\n\0`);
  const next = (command: string, receiptId?: string) =>
    waitFor(() => {
      if (closed) throw new Error(`${login}'s connection closed (${closed.code}) before a ${command}`);
      return received.find(
        (r) => r.frame.command === command && (receiptId === undefined || header(r.frame, 'receipt-id') === receiptId),
      );
    }, `${command} for ${login}`);
  await next('CONNECTED');
  decoder.setVersion(version === '1.0' ? '1.0' : '1.2');
  return {
    ws,
    received,
    next,
    messages: (destination: string) =>
      received.filter((r) => r.frame.command === 'MESSAGE' && header(r.frame, 'destination') === destination),
    get closed() {
      return closed;
    },
  };
}

/** A SEND frame with a raw body, as bytes (the body need not be text). */
function sendFrame(destination: string, body: Buffer, extra: Record<string, string> = {}, receipt?: string): Buffer {
  const headers = { destination, 'content-length': String(body.length), ...extra, ...(receipt ? { receipt } : {}) };
  const head = `SEND\n${Object.entries(headers)
    .map(([k, v]) => `${k}:${v}`)
    .join('\n')}\n\n`;
  return Buffer.concat([Buffer.from(head), body, Buffer.from([0])]);
}

describe('binary and text WebSocket messages', () => {
  let n: StartedNode;
  before(async () => {
    n = await startNode();
  });
  after(async () => {
    await n.stop();
  });

  const notUtf8 = Buffer.from([0xff, 0xfe, 0x80, 0x41, 0xc3, 0x28]);
  const cases: [string, Record<string, string>][] = [
    ['without content-type', {}],
    ['with a text content-type', { 'content-type': 'text/plain;charset=UTF-8' }],
  ];
  for (const [what, extra] of cases) {
    it(`sends a body that is not UTF-8 ${what} as a binary message to every subscriber (one and a fan-out), and the connections stay open`, async () => {
      const destination = `/topic/bytes-${what.replace(/\W+/g, '-')}`;
      // Sessions of three versions: the shared end of a fan-out is encoded per escaping rule.
      const subscribers = [
        await rawClient(n.url, 's1'),
        await rawClient(n.url, 's2'),
        await rawClient(n.url, 's3', '1.1'),
        await rawClient(n.url, 's4', '1.0'),
      ];
      for (const [i, s] of subscribers.entries()) {
        s.ws.send(`SUBSCRIBE\nid:${i}\ndestination:${destination}\nreceipt:sub\n\n\0`);
        await s.next('RECEIPT', 'sub');
      }
      const sender = await rawClient(n.url, 'sender');
      sender.ws.send(sendFrame(destination, notUtf8, extra, 'bytes'));
      await sender.next('RECEIPT', 'bytes');
      // A text message after it, as the fence: once it arrives, the bytes came before it.
      sender.ws.send(sendFrame(destination, Buffer.from('fence ✓'), {}, 'fence'));
      await sender.next('RECEIPT', 'fence');
      for (const s of subscribers) {
        await waitFor(() => s.messages(destination).length === 2 || s.closed, 'two messages or a close');
        expect(s.closed, 'the connection stays open').to.equal(undefined);
        const [bytes, fence] = s.messages(destination);
        expect(bytes!.isBinary, 'the bytes come as a binary message').to.equal(true);
        expect(bytes!.frame.body.equals(notUtf8)).to.equal(true);
        expect(fence!.isBinary, 'valid UTF-8 without content-type stays text').to.equal(false);
        expect(fence!.frame.body.toString()).to.equal('fence ✓');
        s.ws.close();
      }
      sender.ws.close();
    });
  }

  it('keeps an application/octet-stream body binary even when it is valid UTF-8 (as Spring)', async () => {
    const s = await rawClient(n.url, 'oct');
    s.ws.send('SUBSCRIBE\nid:1\ndestination:/topic/oct\nreceipt:sub\n\n\0');
    await s.next('RECEIPT', 'sub');
    s.ws.send(sendFrame('/topic/oct', Buffer.from('abc'), { 'content-type': 'application/octet-stream' }, 'r'));
    await s.next('RECEIPT', 'r');
    const [m] = await waitFor(
      () => (s.messages('/topic/oct').length === 1 ? s.messages('/topic/oct') : undefined),
      'the message',
    );
    expect(m!.isBinary).to.equal(true);
    s.ws.close();
  });
});
