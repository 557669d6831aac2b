import { expect } from 'chai';
import { silentLogger } from '../../server/log.js';
import { InboxReplay } from '../../server/messaging/inbox-replay.js';
import type { Subscription } from '../../server/messaging/subscriptions.js';
import { Metrics } from '../../server/metrics.js';
import type { RelayMessage } from '../../server/relay/relay-message.js';
import { MemoryOfflineStore } from '../../server/store/memory-offline-store.js';

const DEST = '/user/queue/x';

describe('inbox replay', () => {
  it('puts back what a take brought in for a subscription that ended meanwhile', async () => {
    const store = new MemoryOfflineStore({ maxPerUser: 10, retentionMs: 60_000 });
    const msg: RelayMessage = {
      id: 'm1',
      target: { kind: 'user', user: 'u' },
      destination: '/queue/x',
      headers: [],
      body: Buffer.from('kept'),
      origin: 'n1',
      sentAt: Date.now(),
      position: { epoch: 'e1', offset: 1 },
    };
    await store.append('u', DEST, msg);
    let current = true;
    const replay = new InboxReplay({ store, metrics: new Metrics(), log: silentLogger }, 'u', {
      writeReplayed: () => undefined,
      isCurrent: () => current,
    });
    // Only what the replay reads of a subscription: a user destination with history.
    const sub = { id: 's1', destination: DEST, kind: 'user' } as Subscription;
    const taking = replay.takeCopies(sub);
    current = false; // UNSUBSCRIBE (or the session closed) while the take was in flight
    expect(await taking).to.deep.equal([]);
    current = true;
    const again = await replay.takeCopies(sub);
    expect(again.map((c) => [c.msg.id, c.epoch, c.offset])).to.deep.equal([['m1', 'e1', 1]]);
  });
});
