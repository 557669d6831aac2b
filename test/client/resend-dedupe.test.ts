import { expect } from 'chai';
import { Client } from '@stomp/stompjs';
import { StompResume } from '../../client/index.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { webSocketFactory } from '../helpers/stomp-client.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A message sent again under its message-id (its sender never got the RECEIPT) once the stream has
 * moved on past what its history keeps gets a new offset: the resume helper still shows it once.
 */
describe('client helper: a message sent again under its message-id, after its history was trimmed', function () {
  let node: StartedNode | undefined;
  let client: Client | undefined;

  after(async () => {
    await client?.deactivate();
    await node?.stop();
  });

  it('reaches the application once', async () => {
    node = await startNode({ HISTORY_DESTINATIONS: '/user/queue/x', HISTORY_SIZE: '2' });
    client = new Client({
      webSocketFactory: webSocketFactory(node.url),
      connectHeaders: { login: 'alice' },
      reconnectDelay: 0,
      debug: () => {},
    });
    const resume = new StompResume(client);
    const seen: string[] = [];
    let subscribed = false;
    const sub = resume.subscribe('/user/queue/x', (m) => seen.push(m.body), {
      onSubscribed: () => (subscribed = true),
    });
    client.activate();
    await waitFor(() => subscribed, 'the subscription');
    const send = (body: string, id?: string) =>
      node!.node.template.convertAndSendToUser('alice', '/queue/x', body, undefined, id ? { id } : {});
    await send('a', 'resent-1');
    for (const b of ['b', 'c', 'd']) await send(b);
    await send('a', 'resent-1'); // the sender's retry: the history kept 2 messages, so a new offset
    await send('e');
    await waitFor(() => seen.includes('e'), 'the last message');
    expect(seen).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    expect(sub.position?.offset).to.equal(6);
  });
});
