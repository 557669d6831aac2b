import { expect } from 'chai';
import { Client, type IFrame, type IMessage } from '@stomp/stompjs';
import SockJS from 'sockjs-client';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient } from '../helpers/stomp-client.js';
import { deferred, waitFor } from '../helpers/wait.js';

async function sockJsClient(
  url: string,
  login: string,
  transports: string[],
): Promise<{ client: Client; connected: IFrame }> {
  const ready = deferred<IFrame>();
  const client = new Client({
    webSocketFactory: () => new SockJS(url, null, { transports }),
    connectHeaders: { login },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => {},
    onConnect: (f) => ready.resolve(f),
    onStompError: (f) => ready.reject(new Error(f.headers.message)),
    onWebSocketClose: () => ready.reject(new Error('closed')),
  });
  client.activate();
  const connected = await ready.promise;
  return { client, connected };
}

describe('SockJS on the STOMP endpoint', () => {
  let n: StartedNode;
  before(async () => {
    n = await startNode();
  });
  after(async () => {
    await n.stop();
  });

  it("answers /ws/info and the welcome text as Spring's withSockJS() does", async () => {
    const info = (await (await fetch(`${n.http}/ws/info`)).json()) as Record<string, unknown>;
    expect(info).to.include({ websocket: true });
    expect(info.entropy).to.be.a('number');
    expect(await (await fetch(`${n.http}/ws`)).text()).to.equal('Welcome to SockJS!\n');
  });

  for (const transport of ['websocket', 'xhr-streaming', 'xhr-polling']) {
    it(`connects, subscribes and receives over the ${transport} transport`, async () => {
      const { client, connected } = await sockJsClient(`${n.http}/ws`, `sock-${transport}`, [transport]);
      expect(connected.headers['user-name']).to.equal(`sock-${transport}`);
      // STOMP session id = the SockJS session path segment (8 random characters from sockjs-client)
      expect(connected.headers.session).to.match(/^[a-z0-9]{8}$/);
      const got: IMessage[] = [];
      const receipt = deferred<void>();
      client.watchForReceipt('sub', () => receipt.resolve());
      client.subscribe('/user/queue/jobs', (m) => got.push(m), { receipt: 'sub' });
      await receipt.promise;
      const sender = await connectClient(n.url, { login: 'backend' });
      await sender.sendWithReceipt(`/user/sock-${transport}/queue/jobs`, 'progress 50%');
      await waitFor(() => got.length === 1, 'the message over SockJS');
      expect(got[0]!.body).to.equal('progress 50%');
      expect(got[0]!.headers.destination).to.equal('/user/queue/jobs');
      await sender.disconnect();
      await client.deactivate();
    });
  }

  it('counts open connections in stomp_connections, back to none once WebSocket and SockJS clients close', async () => {
    const connections = async () => {
      const text = await (await fetch(`${n.http}/metrics`)).text();
      return Number(/^stomp_connections (\S+)$/m.exec(text)?.[1]);
    };
    await waitFor(async () => (await connections()) === 0, 'no connection left by earlier tests');
    const ws = await connectClient(n.url, { login: 'gauge-ws' });
    const polling = await sockJsClient(`${n.http}/ws`, 'gauge-polling', ['xhr-polling']);
    const sockWs = await sockJsClient(`${n.http}/ws`, 'gauge-sockjs-ws', ['websocket']);
    expect(await connections()).to.equal(3);
    await ws.disconnect();
    await polling.client.deactivate();
    await sockWs.client.deactivate();
    await waitFor(async () => (await connections()) === 0, 'stomp_connections back to 0', 15_000);
  });

  it('keeps the raw WebSocket at /ws/websocket too', async () => {
    const c = await connectClient(`${n.url}/websocket`, { login: 'raw-at-websocket' });
    expect(c.connected.headers['user-name']).to.equal('raw-at-websocket');
    await c.disconnect();
  });
});
