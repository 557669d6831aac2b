import { expect } from 'chai';
import type { ControlSignal } from '../../server/broker/broker.js';
import { MemoryBroker } from '../../server/broker/memory-broker.js';
import { silentLogger } from '../../server/log.js';
import { LocalSubscriptions } from '../../server/messaging/subscriptions.js';
import { Metrics } from '../../server/metrics.js';
import { MemoryRegistry } from '../../server/registry/memory-registry.js';
import { RouteCache } from '../../server/relay/route-cache.js';
import { MessageRouter } from '../../server/relay/router.js';
import { MemoryOfflineStore } from '../../server/store/memory-offline-store.js';
import { signalMessage, signalOf } from '../../server/broker/control-signal.js';
import { decodeEnvelope, encodeEnvelope } from '../../server/relay/relay-envelope.js';

describe('route announcements', function () {
  /** A router on node n1 whose signals are recorded as the broker is asked to send them. */
  async function router(): Promise<{ router: MessageRouter; sent: ControlSignal[]; cache: RouteCache }> {
    const broker = new MemoryBroker('n1');
    const sent: ControlSignal[] = [];
    const signal = broker.signal.bind(broker);
    broker.signal = (to, s) => {
      sent.push(s);
      return signal(to, s);
    };
    const cache = new RouteCache(60_000);
    const r = new MessageRouter({
      nodeId: 'n1',
      broker,
      registry: new MemoryRegistry('n1'),
      store: new MemoryOfflineStore({ maxPerUser: 10, retentionMs: 60_000 }),
      subscriptions: new LocalSubscriptions({ firstSubscriber() {}, lastSubscriberGone() {} }),
      nextId: () => 'id',
      metrics: new Metrics({ defaultMetrics: false }),
      log: silentLogger,
      routeCache: cache,
    });
    await broker.start(r.onRelayed, r.onSignal);
    return { router: r, sent, cache };
  }

  it('tells the other nodes of every user announced in one turn in one signal, 500 users at most', async function () {
    const { router: r, sent } = await router();
    const users = Array.from({ length: 1_200 }, (_, i) => `u${i}`);
    await Promise.all(users.map((u) => r.announceRoutes(u)));
    expect(sent.map((s) => s.kind)).to.deep.equal(['routes-changed', 'routes-changed', 'routes-changed']);
    const announced = sent.flatMap((s) => (s.kind === 'routes-changed' ? s.users : []));
    expect(announced).to.deep.equal(users);
    // A later turn starts a new signal.
    await r.announceRoutes('late');
    expect(sent.at(-1)).to.deep.equal({ kind: 'routes-changed', users: ['late'] });
  });

  it('forgets the cached routes of every user named in another node’s signal', async function () {
    const { router: r, cache } = await router();
    const now = Date.now();
    for (const u of ['a', 'b', 'c']) cache.set(u, undefined, ['n2'], now);
    r.onSignal({ kind: 'routes-changed', users: ['a', 'c'] }, 'n2');
    expect(['a', 'b', 'c'].map((u) => cache.fresh(u, undefined, now) !== undefined)).to.deep.equal([
      false,
      true,
      false,
    ]);
  });

  it('sends the small broadcasts of one turn to the other nodes in one signal, 500 at most', async function () {
    const { router: r, sent } = await router();
    const bodies = Array.from({ length: 1_200 }, (_, i) => `{"n":${i}}`);
    await Promise.all(
      bodies.map((b, i) => r.broadcastBatched(`/topic/docs/d${i}/presence`, 'application/json', Buffer.from(b))),
    );
    expect(sent.map((s) => (s.kind === 'broadcasts' ? s.messages.length : s.kind))).to.deep.equal([500, 500, 200]);
    const messages = sent.flatMap((s) => (s.kind === 'broadcasts' ? s.messages : []));
    expect(messages.map((m) => m.destination)).to.deep.equal(bodies.map((_, i) => `/topic/docs/d${i}/presence`));
    expect(messages.map((m) => m.body.toString())).to.deep.equal(bodies);
  });

  it('carries batched broadcasts from node to node unchanged, and reads nothing from a signal that does not add up', function () {
    const messages = ['{"a":1}', '', 'ünïcode ✓'].map((text, i) => ({
      id: `n1:${i}`,
      destination: `/topic/docs/${i} x/presence`,
      contentType: i === 2 ? 'text/plain; charset=utf-8' : 'application/json',
      body: Buffer.from(text),
    }));
    const msg = signalMessage({ kind: 'broadcasts', messages, sentAt: 1234 }, 'n1', 'sig-1');
    const through = signalOf(decodeEnvelope('sig-1', encodeEnvelope(msg)));
    expect(through).to.deep.equal({ kind: 'broadcasts', messages, sentAt: 1234 });
    expect(signalOf({ ...msg, body: msg.body.subarray(1) })).to.equal(undefined);
    expect(signalOf({ ...msg, headers: [['/topic/x', 'no-length']] })).to.equal(undefined);
  });
});
