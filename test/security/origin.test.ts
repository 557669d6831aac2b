import { expect } from 'chai';
import WebSocket from 'ws';
import { startNode, type StartedNode } from '../helpers/start-node.js';

function handshake(url: string, origin?: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['v12.stomp'], origin ? { headers: { Origin: origin } } : {});
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => {});
  });
}

describe('origin check (ALLOWED_ORIGINS)', () => {
  let n: StartedNode;
  before(async () => {
    n = await startNode({ ALLOWED_ORIGINS: 'https://app.example.com' });
  });
  after(async () => {
    await n.stop();
  });

  it('accepts a listed origin, the same origin, and clients that send none', async () => {
    expect(await handshake(n.url, 'https://app.example.com')).to.equal(101);
    expect(await handshake(n.url, `http://127.0.0.1:${n.port}`)).to.equal(101);
    expect(await handshake(n.url)).to.equal(101);
  });

  it('refuses a cross-site origin on the WebSocket and the SockJS handshakes with 403', async () => {
    expect(await handshake(n.url, 'https://evil.example.net')).to.equal(403);
    const info = await fetch(`${n.http}/ws/info`, { headers: { Origin: 'https://evil.example.net' } });
    expect(info.status).to.equal(403);
    const ok = await fetch(`${n.http}/ws/info`, { headers: { Origin: 'https://app.example.com' } });
    expect(ok.status).to.equal(200);
  });
});
