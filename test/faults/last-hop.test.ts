import { expect } from 'chai';
import { requireService } from '../helpers/services.js';
import { connectRaw, type RawSocket } from '../helpers/raw-socket.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient, type TestClient } from '../helpers/stomp-client.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The last hop, node → client, in `auto` ack mode: a message counts as delivered once its MESSAGE
 * frame is queued on the session's open socket. A client that leaves politely — DISCONNECT with a
 * receipt, as STOMP.js' deactivate() does, which then ignores every frame after the RECEIPT
 * (stomp-handler.js `_closeWebsocket`: `onmessage = () => {}`) — should not lose what is sent to
 * it after it asked to leave: the node should stop delivering to the session before it answers.
 */
describe('faults: the last hop after a DISCONNECT (minimal reproduction)', function () {
  let node: StartedNode | undefined;
  let raw: RawSocket | undefined;
  let client: TestClient | undefined;

  before(async function () {
    await requireService(this, 'redis');
    await requireService(this, 'rabbitmq');
  });
  after(async () => {
    raw?.close();
    await client?.disconnect();
    await node?.stop();
  });

  // STOMP.js reads nothing after a DISCONNECT's RECEIPT: the session leaves the registry before the
  // RECEIPT goes out, so a message sent to the user afterwards waits for the next session.
  it("keeps a message sent after the RECEIPT of a DISCONNECT for the user's next session", async function () {
    this.timeout(20_000);
    node = await startNode();
    raw = await connectRaw(node.url, 'erin');
    raw.send('SUBSCRIBE\nid:0\ndestination:/user/queue/x\nreceipt:s\n\n\0');
    await raw.next('RECEIPT');
    raw.send('DISCONNECT\nreceipt:bye\n\n\0');
    const bye = await raw.next('RECEIPT');
    expect(bye.headers.find(([n]) => n === 'receipt-id')?.[1]).to.equal('bye');

    // The client has its RECEIPT and, as STOMP.js, reads nothing more; the socket is still open.
    const status = await node.node.template.convertAndSendToUser('erin', '/queue/x', 'sent after the DISCONNECT');
    const written = await raw.next('MESSAGE', 2000).then(
      () => 'a MESSAGE was written to the old session after its DISCONNECT RECEIPT',
      () => 'no MESSAGE reached the old session',
    );
    raw.close();

    client = await connectClient(node.url, { login: 'erin' });
    const inbox = await client.subscribeWithReceipt('/user/queue/x');
    const got = await waitFor(() => inbox.messages.length > 0, "the message to reach erin's next session", 3000).catch(
      () => false,
    );
    expect(got, `erin's next session got nothing (the router said '${status}'; ${written})`).to.equal(true);
  });
});
