import { expect } from 'chai';
import net from 'node:net';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { delay } from '../helpers/wait.js';

/** A raw keep-alive HTTP/1.1 client on one TCP connection: what nginx's upstream keepalive does. */
class OneConnection {
  readonly socket: net.Socket;
  private received = '';
  readonly closed: Promise<number>;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => (this.received += d));
    const opened = Date.now();
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve(Date.now() - opened)));
  }

  /** Sends GET /healthz and resolves with the status line of its response. */
  async get(): Promise<string> {
    const before = this.received.length;
    this.socket.write('GET /healthz HTTP/1.1\r\nHost: node\r\nConnection: keep-alive\r\n\r\n');
    for (let i = 0; i < 100 && !this.received.slice(before).includes('\r\n\r\n'); i++) await delay(20);
    return this.received.slice(before).split('\r\n')[0] ?? '';
  }
}

describe('HTTP keep-alive (HTTP_KEEPALIVE_MS)', function () {
  this.timeout(15_000);
  let n: StartedNode;
  before(async () => {
    n = await startNode({ HTTP_KEEPALIVE_MS: '1500' });
  });
  after(async () => {
    await n.stop();
  });

  it('keeps an idle connection open for HTTP_KEEPALIVE_MS, so a balancer can reuse it, then closes it', async () => {
    const c = new OneConnection(n.port);
    try {
      expect(await c.get()).to.equal('HTTP/1.1 200 OK');
      await delay(1000); // idle for longer than nothing, shorter than the setting
      expect(c.socket.destroyed || c.socket.readableEnded, 'still open after 1 s idle').to.equal(false);
      expect(await c.get(), 'the reused connection answers').to.equal('HTTP/1.1 200 OK');
      const closedAfter = await Promise.race([c.closed, delay(5000).then(() => -1)]);
      expect(closedAfter, 'the node closes it once idle for HTTP_KEEPALIVE_MS').to.be.within(2000, 4500);
    } finally {
      c.socket.destroy();
    }
  });
});
