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

  it('keeps the inbox of a subscription that ended before or during its replay', async () => {
    const store = new MemoryOfflineStore({ maxPerUser: 10, retentionMs: 60_000 });
    const msg = (id: string): RelayMessage => ({
      id,
      target: { kind: 'user', user: 'u' },
      destination: '/queue/x',
      headers: [],
      body: Buffer.from(id),
      origin: 'n1',
      sentAt: Date.now(),
    });
    await store.append('u', DEST, msg('m1'));
    await store.append('u', DEST, msg('m2'));
    let current = false;
    const written: string[] = [];
    const replay = new InboxReplay({ store, metrics: new Metrics(), log: silentLogger }, 'u', {
      writeReplayed: (_sub, m) => written.push(m.id),
      isCurrent: () => current,
    });
    const sub = { id: 's1', destination: DEST, kind: 'user' } as Subscription;
    // Ended before its replay ran (UNSUBSCRIBE while the SUBSCRIBE waited for its join).
    replay.hold(sub);
    await replay.replay(sub);
    // Ended while the take ran.
    current = true;
    replay.hold(sub);
    const running = replay.replay(sub);
    current = false;
    await running;
    expect(written).to.deep.equal([]);
    current = true;
    replay.hold(sub);
    await replay.replay(sub);
    expect(written).to.deep.equal(['m1', 'm2']);
    expect(replay.isIdle()).to.equal(true);
  });

  it('holds live messages only for the subscription replaying, and writes them after its stored ones', async () => {
    const store = new MemoryOfflineStore({ maxPerUser: 10, retentionMs: 60_000 });
    const msg = (id: string, destination: string): RelayMessage => ({
      id,
      target: { kind: 'user', user: 'u' },
      destination,
      headers: [],
      body: Buffer.from(id),
      origin: 'n1',
      sentAt: Date.now(),
    });
    const other = '/user/queue/y';
    await store.append('u', other, msg('stored-1', '/queue/y'));
    await store.append('u', other, msg('stored-2', '/queue/y'));
    // The second subscription's take waits until released.
    let release = (): void => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const take = store.take.bind(store);
    store.take = async (user, destination) => {
      if (destination === other) await gate;
      return take(user, destination);
    };
    const written: string[] = [];
    const replay = new InboxReplay({ store, metrics: new Metrics(), log: silentLogger }, 'u', {
      writeReplayed: (sub, m) => written.push(`${sub.id} ${m.id}`),
      isCurrent: () => true,
    });
    const live = { id: 's1', destination: DEST, kind: 'user' } as Subscription;
    const replaying = { id: 's2', destination: other, kind: 'user' } as Subscription;
    replay.hold(live);
    await replay.replay(live); // s1 subscribed before, its inbox empty: live from now on
    replay.hold(replaying);
    const running = replay.replay(replaying);
    // While s2's take is in flight, a live message for s1 would be written at once; s2's waits.
    expect(replay.held(live)).to.equal(undefined);
    replay.held(replaying)?.push(msg('live-2', '/queue/y'));
    release();
    await running;
    expect(written).to.deep.equal(['s2 stored-1', 's2 stored-2', 's2 live-2']);
    expect(replay.isIdle()).to.equal(true);
  });
});
