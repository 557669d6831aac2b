import { expect } from 'chai';
import { MemoryBroker } from '../../server/broker/memory-broker.js';
import { silentLogger } from '../../server/log.js';
import {
  LocalSubscriptions,
  subscriptionSerial,
  type SessionHandle,
  type Subscription,
} from '../../server/messaging/subscriptions.js';
import { Metrics } from '../../server/metrics.js';
import { MemoryRegistry } from '../../server/registry/memory-registry.js';
import type { RelayMessage } from '../../server/relay/relay-message.js';
import { RouteCache } from '../../server/relay/route-cache.js';
import { MessageRouter } from '../../server/relay/router.js';
import { MemoryOfflineStore } from '../../server/store/memory-offline-store.js';

/** What the node's sessions were given, as `session subscription message-id`. */
type Written = string[];

describe('a second copy of a message', function () {
  async function node(): Promise<{
    router: MessageRouter;
    subs: LocalSubscriptions;
    written: Written;
    metrics: Metrics;
  }> {
    const broker = new MemoryBroker('n1');
    const subs = new LocalSubscriptions({ firstSubscriber() {}, lastSubscriberGone() {} });
    const metrics = new Metrics({ defaultMetrics: false });
    const router = new MessageRouter({
      nodeId: 'n1',
      broker,
      registry: new MemoryRegistry('n1'),
      store: new MemoryOfflineStore({ maxPerUser: 10, retentionMs: 60_000 }),
      subscriptions: subs,
      nextId: () => 'made-up',
      metrics,
      log: silentLogger,
      routeCache: new RouteCache(60_000),
    });
    await broker.start(router.onRelayed, router.onSignal);
    return { router, subs, written: [], metrics };
  }

  /** A session double that keeps its subscriptions where the node looks for a user's. */
  type TestSession = SessionHandle & { readonly subscriptions: Subscription[] };

  function session(id: string, user: string, written: Written): TestSession {
    return {
      id,
      user,
      deliver: (sub, msg) => {
        written.push(`${id} ${sub.id} ${msg.id}`);
        return true;
      },
      replayStored() {},
      subscriptions: [],
    };
  }

  function subscribe(subs: LocalSubscriptions, s: TestSession, id: string, destination: string): Subscription {
    const sub: Subscription = {
      id,
      serial: subscriptionSerial(),
      session: s,
      destination,
      kind: destination.startsWith('/user/') ? 'user' : 'broker',
      ackMode: 'auto',
      matches: undefined,
      stream: undefined,
    };
    subs.addSession(s);
    s.subscriptions.push(sub);
    subs.add(sub);
    return sub;
  }

  function userMessage(id: string, user: string): RelayMessage {
    const target = { kind: 'user', user } as const;
    return {
      id,
      target,
      destination: '/queue/chat',
      headers: [],
      body: Buffer.from('hi'),
      origin: 'n2',
      sentAt: Date.now(),
    };
  }

  function broadcast(id: string, destination: string): RelayMessage {
    const target = { kind: 'broadcast' } as const;
    return { id, target, destination, headers: [], body: Buffer.from('hi'), origin: 'n2', sentAt: Date.now() };
  }

  async function suppressed(metrics: Metrics): Promise<number> {
    const text = await metrics.registry.metrics();
    return Number(/^stomp_duplicates_suppressed_total (\S+)$/m.exec(text)?.[1] ?? NaN);
  }

  it('reaches each subscription once, also a subscription of a second tab', async function () {
    const { router, subs, written, metrics } = await node();
    subscribe(subs, session('tab1', 'alice', written), 's1', '/user/queue/chat');
    subscribe(subs, session('tab2', 'alice', written), 's1', '/user/queue/chat');
    await router.onRelayed(userMessage('m1', 'alice'));
    await router.onRelayed(userMessage('m1', 'alice')); // a broker redelivery
    expect(written).to.deep.equal(['tab1 s1 m1', 'tab2 s1 m1']);
    expect(await suppressed(metrics)).to.equal(2);
  });

  it('of another user with the same client-chosen message-id is not a copy', async function () {
    const { router, subs, written } = await node();
    subscribe(subs, session('a', 'alice', written), 's1', '/user/queue/chat');
    subscribe(subs, session('b', 'bob', written), 's1', '/user/queue/chat');
    await router.onRelayed(userMessage('1', 'alice'));
    await router.onRelayed(userMessage('1', 'bob'));
    expect(written).to.deep.equal(['a s1 1', 'b s1 1']);
  });

  it('of a broadcast goes nowhere; the same id on another destination is another message', async function () {
    const { router, subs, written, metrics } = await node();
    const s = session('a', 'alice', written);
    subscribe(subs, s, 's1', '/topic/news');
    subscribe(subs, s, 's2', '/topic/sport');
    await router.onRelayed(broadcast('b1', '/topic/news'));
    await router.onRelayed(broadcast('b1', '/topic/news'));
    await router.onRelayed(broadcast('b1', '/topic/sport'));
    expect(written).to.deep.equal(['a s1 b1', 'a s2 b1']);
    expect(await suppressed(metrics)).to.equal(1);
  });

  it("of a node's batched broadcasts (a redelivered signal) goes nowhere, and a client's id cannot stand for them", async function () {
    const { router, subs, written, metrics } = await node();
    const s = session('a', 'alice', written);
    subscribe(subs, s, 's1', '/topic/docs/1/presence');
    subscribe(subs, s, 's2', '/topic/docs/2/presence');
    const notice = (id: string, doc: number) => ({
      id,
      destination: `/topic/docs/${doc}/presence`,
      contentType: 'application/json',
      body: Buffer.from('{}'),
    });
    // A client's broadcast with the id of the notice to come, on its destination.
    await router.onRelayed(broadcast('n2-1', '/topic/docs/1/presence'));
    const signal = {
      kind: 'broadcasts',
      messages: [notice('n2-1', 1), notice('n2-2', 2)],
      sentAt: Date.now(),
    } as const;
    router.onSignal(signal, 'n2');
    router.onSignal(signal, 'n2'); // a broker redelivery
    router.onSignal({ ...signal, messages: [notice('n2-3', 1)] }, 'n2');
    expect(written).to.deep.equal(['a s1 n2-1', 'a s1 n2-1', 'a s2 n2-2', 'a s1 n2-3']);
    expect(await suppressed(metrics)).to.equal(1);
  });

  it('is recognised by a long message-id too (kept as its digest)', async function () {
    const { router, subs, written } = await node();
    subscribe(subs, session('a', 'alice', written), 's1', '/user/queue/chat');
    const long = 'x'.repeat(5_000);
    await router.onRelayed(userMessage(long, 'alice'));
    await router.onRelayed(userMessage(long, 'alice'));
    await router.onRelayed(userMessage(`${long}y`, 'alice'));
    expect(written.map((w) => w.length)).to.deep.equal([5_005, 5_006]);
  });
});
