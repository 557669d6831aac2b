import { expect } from 'chai';
import type { RelayMessage } from '../../server/broker/relay-message.js';
import { MemoryOfflineStore } from '../../server/store/memory-offline-store.js';
import type { OfflineStore } from '../../server/store/offline-store.js';
import { requireService } from '../helpers/services.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient, type TestClient } from '../helpers/stomp-client.js';
import { deferred, waitFor } from '../helpers/wait.js';

/**
 * The minimal, deterministic form of the loss the fault suites hit when a recipient (re)connects
 * while messages for it are routed (redis.test.ts "recipient moves", kill.test.ts): the router
 * decides "the user is nowhere" (locate → []) and appends to the offline inbox, while the user's
 * SUBSCRIBE joins and takes the inbox in between. The append lands after the take: the message
 * was accepted (RECEIPT / 202 'stored'), the user is subscribed, and it stays in the inbox until
 * the user subscribes again. Here the gap between "nowhere" and "appended" (a Redis round trip,
 * or a queued one during an outage) is held open on purpose with a gated store.
 */
describe('faults: offline inbox vs. a concurrent subscription (minimal reproduction)', function () {
  let node: StartedNode | undefined;
  let client: TestClient | undefined;

  before(async function () {
    await requireService(this, 'redis');
    await requireService(this, 'rabbitmq');
  });
  after(async () => {
    await client?.disconnect();
    await node?.stop();
  });

  // BUG "offline-store race": server/messaging/router.ts routeUserMessage (locate → [] at line 178,
  // then this.store() at line 181 → store.append at line 237; deliverUserHere's fallback at line 232 too)
  // decides "nowhere" and appends in two steps; a SUBSCRIBE that joins and takes the inbox in
  // between (server/messaging/session-messaging.ts subscribe(), lines 210-211 → replay() line 217)
  // leaves an accepted message in the inbox while its user is subscribed. Skipped until fixed, so
  // the suite stays green; remove `.skip` to see it fail.
  it.skip('delivers a message stored while its user was subscribing (BUG: it stays in the offline inbox)', async function () {
    this.timeout(20_000);
    const gate = deferred<void>();
    const appending = deferred<void>();
    const memory = new MemoryOfflineStore({ maxPerUser: 1000, retentionMs: 60_000 });
    const store: OfflineStore = {
      append: async (user: string, sub: string, msg: RelayMessage) => {
        appending.resolve();
        await gate.promise; // the round trip between "user is nowhere" and the append
        await memory.append(user, sub, msg);
      },
      take: (user, sub) => memory.take(user, sub),
      count: (user) => memory.count(user),
      close: () => memory.close(),
    };
    node = await startNode({}, { store });

    // 1. A backend sends to bob, who is not connected: the router finds nobody and starts storing.
    const sent = node.node.template.convertAndSendToUser('bob', '/42/queue/chat', { k: 'm1' });
    await appending.promise;
    // 2. bob connects and subscribes: he joins document 42 and takes his (still empty) inbox.
    client = await connectClient(node.url, { login: 'bob' });
    const inbox = await client.subscribeWithReceipt('/user/42/queue/chat');
    // 3. The append lands; the sender is told the message is accepted ('stored').
    gate.resolve();
    expect(await sent).to.equal('stored');

    // bob is subscribed and reachable; the accepted message should reach him.
    const got = await waitFor(() => inbox.messages.length > 0, 'the stored message to reach bob', 3000).catch(() => false);
    const left = await memory.count('bob');
    expect(got, `bob got nothing; ${left} message(s) stranded in his offline inbox`).to.equal(true);
  });
});
