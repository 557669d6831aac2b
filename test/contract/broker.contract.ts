import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { QueueInUseError, UnroutableError, type Broker, type ControlSignal } from '../../server/broker/broker.js';
import type { RelayMessage } from '../../server/relay/relay-message.js';
import type { NodeId } from '../../server/ids.js';

/** What a contract runner provides for one Broker implementation. */
export interface BrokerFactory {
  /** Brokers of different node ids reach each other (RabbitMQ). False for the one-process MemoryBroker. */
  readonly cluster: boolean;
  /** Messages wait in a queue per node: redelivered after a handler rejected, kept while the node is down. */
  readonly queues: boolean;
  /** A new broker for `nodeId`, not started. The same id twice means the same node (restarted). */
  create(nodeId: NodeId): Broker;
}

const WAIT_MS = 10_000;
const MARKER = '/marker';

/** Records what a node's handler was given; `behaviour` runs after recording and may reject. */
class Inbox {
  readonly received: RelayMessage[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly behaviour?: (msg: RelayMessage) => Promise<void>) {}

  readonly signals: { signal: ControlSignal; from: NodeId }[] = [];

  readonly handler = async (msg: RelayMessage): Promise<void> => {
    this.received.push(msg);
    for (const check of [...this.waiters]) check();
    if (this.behaviour) await this.behaviour(msg);
  };

  readonly onSignal = (signal: ControlSignal, from: NodeId): void => {
    this.signals.push({ signal, from });
    for (const check of [...this.waiters]) check();
  };

  signalled(pred: (s: ControlSignal) => boolean, what: string): Promise<void> {
    return this.until(() => this.signals.some((s) => pred(s.signal)), what);
  }

  /** Ids received, without markers, in arrival order. */
  ids(): string[] {
    return this.received.filter((m) => m.destination !== MARKER).map((m) => m.id);
  }

  until(pred: (received: readonly RelayMessage[]) => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    if (pred(this.received)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = (): void => {
        if (!pred(this.received)) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out waiting for ${what}; received ${this.received.length}: ${this.ids().slice(0, 20).join(', ')}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
    });
  }
}

interface TestNode {
  readonly id: NodeId;
  readonly broker: Broker;
  readonly inbox: Inbox;
}

let seq = 0;
const run = randomBytes(3).toString('hex');

function message(origin: NodeId, over: Partial<RelayMessage> = {}): RelayMessage {
  return {
    id: `m-${run}-${++seq}`,
    target: { kind: 'broadcast' },
    destination: '/topic/t',
    headers: [],
    body: Buffer.from(`body ${seq}`),
    origin,
    sentAt: Date.now(),
    ...over,
  };
}

function nodeId(label: string): NodeId {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

/**
 * Everything `from` sent to `to` before this has arrived once the marker has: Broker keeps order
 * per sender and receiver. This is how the suite proves a message did *not* arrive, without sleeping.
 */
async function drain(from: TestNode, to: readonly TestNode[]): Promise<void> {
  const marker = message(from.id, { destination: MARKER, target: { kind: 'user', user: 'marker' } });
  await from.broker.sendToNodes(
    to.map((n) => n.id),
    marker,
  );
  await Promise.all(to.map((n) => n.inbox.until((r) => r.some((m) => m.id === marker.id), `marker on ${n.id}`)));
}

function expectSameMessage(got: RelayMessage | undefined, sent: RelayMessage): void {
  expect(got, `message ${sent.id}`).to.not.equal(undefined);
  const { body, ...rest } = got as RelayMessage;
  const { body: sentBody, ...sentRest } = sent;
  expect(Buffer.isBuffer(body)).to.equal(true);
  expect(body.equals(sentBody), 'body bytes').to.equal(true);
  expect(rest).to.deep.equal(sentRest);
}

/**
 * The Broker contract (broker.ts), one suite for every implementation (STYLE 3.6). Cases that
 * need several nodes run only when `cluster`; cases about queued messages only when `queues`.
 */
export function brokerContract(name: string, makeBrokers: () => BrokerFactory): void {
  describe(`Broker contract: ${name}`, function () {
    const factory = makeBrokers();
    const opened: Broker[] = [];

    async function startNode(
      id: NodeId = nodeId('n'),
      behaviour?: (msg: RelayMessage) => Promise<void>,
    ): Promise<TestNode> {
      const broker = factory.create(id);
      opened.push(broker);
      const inbox = new Inbox(behaviour);
      await broker.start(inbox.handler, inbox.onSignal);
      return { id, broker, inbox };
    }

    afterEach(async function () {
      await Promise.all(opened.splice(0).map((b) => b.close()));
    });

    it('is ready once started and not after close, and close is idempotent', async function () {
      const a = await startNode();
      expect(a.broker.isReady()).to.equal(true);
      await a.broker.close();
      await a.broker.close();
      expect(a.broker.isReady()).to.equal(false);
    });

    it('hands a message for its own node to the handler exactly once', async function () {
      const a = await startNode();
      const m = message(a.id, { target: { kind: 'user', user: 'u1' } });
      await a.broker.sendToNodes([a.id, a.id], m);
      await drain(a, [a]);
      expect(a.inbox.ids()).to.deep.equal([m.id]);
    });

    it('rejects with UnroutableError naming a node that has no queue, after delivering to the others', async function () {
      const a = await startNode();
      const ghost = nodeId('ghost');
      const m = message(a.id, { target: { kind: 'user', user: 'u1' } });
      const err: unknown = await a.broker.sendToNodes([a.id, ghost], m).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(UnroutableError);
      expect((err as UnroutableError).nodes).to.deep.equal([ghost]);
      expect((err as UnroutableError).message).to.contain(ghost);
      await a.inbox.until((r) => r.some((x) => x.id === m.id), 'the routable copy');
    });

    it('hands a signal to the signal handler of the nodes it names, never to the message handler', async function () {
      const a = await startNode();
      await a.broker.signal('all', { kind: 'routes-changed', users: ['u1'] });
      await a.broker.signal([a.id, nodeId('ghost')], {
        kind: 'inbox-waiting',
        user: 'u2',
        subscription: '/queue/chat',
      });
      await a.inbox.signalled((s) => s.kind === 'inbox-waiting', 'the inbox signal');
      await a.inbox.signalled((s) => s.kind === 'routes-changed', 'the routes signal');
      await drain(a, [a]);
      expect(a.inbox.signals).to.have.deep.members([
        { signal: { kind: 'routes-changed', users: ['u1'] }, from: a.id },
        { signal: { kind: 'inbox-waiting', user: 'u2', subscription: '/queue/chat' }, from: a.id },
      ]);
      expect(a.inbox.ids()).to.deep.equal([]);
    });

    it('resolves an empty send and a broadcast nobody bound', async function () {
      const a = await startNode();
      await a.broker.sendToNodes([], message(a.id));
      await a.broker.publish(message(a.id, { destination: '/topic/nobody' }));
      await drain(a, [a]);
      expect(a.inbox.ids()).to.deep.equal([]);
    });

    it('broadcasts to a bound destination and a matching pattern, and stops after unbind', async function () {
      const a = await startNode();
      await a.broker.bind('/topic/news');
      await a.broker.bind('/topic/docs/*/edits');
      const news = message(a.id, { destination: '/topic/news' });
      const edit = message(a.id, { destination: '/topic/docs/42/edits' });
      const other = message(a.id, { destination: '/topic/docs/42/comments' });
      for (const m of [news, edit, other]) await a.broker.publish(m);
      await drain(a, [a]);
      expect(a.inbox.ids()).to.deep.equal([news.id, edit.id]);

      await a.broker.unbind('/topic/news');
      await a.broker.unbind('/topic/docs/*/edits');
      await a.broker.publish(message(a.id, { destination: '/topic/news' }));
      await a.broker.publish(message(a.id, { destination: '/topic/docs/7/edits' }));
      await drain(a, [a]);
      expect(a.inbox.ids()).to.deep.equal([news.id, edit.id]);
    });

    it('keeps receiving a destination while another bound pattern still covers it', async function () {
      const a = await startNode();
      // Both become the same topic binding key on RabbitMQ: unbinding one must not drop the other.
      await a.broker.bind('/topic/docs/*/edits');
      await a.broker.bind('/topic/docs/{id}/edits');
      await a.broker.unbind('/topic/docs/*/edits');
      const m = message(a.id, { destination: '/topic/docs/9/edits' });
      await a.broker.publish(m);
      await drain(a, [a]);
      expect(a.inbox.ids()).to.deep.equal([m.id]);
      await a.broker.unbind('/topic/docs/{id}/edits');
      await a.broker.publish(message(a.id, { destination: '/topic/docs/9/edits' }));
      await drain(a, [a]);
      expect(a.inbox.ids()).to.deep.equal([m.id]);
    });

    it('carries arbitrary body bytes, headers, target and ids unchanged', async function () {
      const a = await startNode();
      const b = factory.cluster ? await startNode() : a;
      await b.broker.bind('/topic/bytes/**');
      const body = Buffer.concat([
        Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
        Buffer.from([0xff, 0xfe, 0x00, 0xc3]),
        randomBytes(64),
      ]);
      const headers = [
        ['content-type', 'application/octet-stream'],
        ['x-dup', 'first'],
        ['x-dup', 'second'],
        ['x-colon', 'a:b\\c\nd'],
        ['x-empty', ''],
        ['x-ünïcødé', '日本語 🎉'],
      ] as const;
      const direct = message(a.id, {
        id: `m-${run}-ü-🎉-${++seq}`,
        target: { kind: 'user', user: 'ann/ü', sessionId: 's-1' },
        destination: '/42/queue/chat',
        headers,
        body,
        sentAt: 1_700_000_000_123,
        redelivered: true,
      });
      const broadcast = message(a.id, { destination: '/topic/bytes/a.b/*#%', headers, body: Buffer.alloc(0) });
      await a.broker.sendToNodes([b.id], direct);
      await a.broker.publish(broadcast);
      await drain(a, [b]);
      expectSameMessage(
        b.inbox.received.find((m) => m.id === direct.id),
        direct,
      );
      expectSameMessage(
        b.inbox.received.find((m) => m.id === broadcast.id),
        broadcast,
      );
    });

    it('keeps the order of 1,000 messages from one sender to one receiver', async function () {
      const a = await startNode();
      const b = factory.cluster ? await startNode() : a;
      const senders = factory.cluster ? [a, await startNode()] : [a];
      const sent = new Map<NodeId, string[]>(senders.map((s) => [s.id, []]));
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 1000; i++) {
        for (const s of senders) {
          const m = message(s.id, {
            target: { kind: 'user', user: 'u' },
            destination: '/q',
            body: Buffer.from(String(i)),
          });
          sent.get(s.id)?.push(m.id);
          sends.push(s.broker.sendToNodes([b.id], m));
        }
      }
      await Promise.all(sends);
      await b.inbox.until((r) => r.length >= 1000 * senders.length, 'every message');
      for (const s of senders) {
        const got = b.inbox.received.filter((m) => m.origin === s.id).map((m) => m.id);
        expect(got, `order from ${s.id}`).to.deep.equal(sent.get(s.id));
      }
    });

    if (factory.cluster) {
      it('delivers a node-targeted message only to the nodes it names', async function () {
        const [a, b, c] = [await startNode(), await startNode(), await startNode()];
        const toB = message(a.id, { target: { kind: 'user', user: 'u1' } });
        const toAC = message(b.id, { target: { kind: 'user', user: 'u2' } });
        await a.broker.sendToNodes([b.id], toB);
        await b.broker.sendToNodes([a.id, c.id], toAC);
        await drain(a, [a, b, c]);
        await drain(b, [a, b, c]);
        expect(a.inbox.ids()).to.deep.equal([toAC.id]);
        expect(b.inbox.ids()).to.deep.equal([toB.id]);
        expect(c.inbox.ids()).to.deep.equal([toAC.id]);
      });

      it('signals every node with "all", and only the named nodes otherwise', async function () {
        const [a, b, c] = [await startNode(), await startNode(), await startNode()];
        await a.broker.signal('all', { kind: 'routes-changed', users: ['u1'] });
        for (const n of [a, b, c]) await n.inbox.signalled((s) => s.kind === 'routes-changed', `routes on ${n.id}`);
        await a.broker.signal([b.id], { kind: 'inbox-waiting', user: 'u1', subscription: '/queue/x' });
        await drain(a, [a, b, c]);
        for (const n of [a, b, c]) {
          const kinds = n.inbox.signals.map((s) => `${s.signal.kind} from ${s.from === a.id ? 'a' : s.from}`);
          expect(kinds, n.id).to.deep.equal(
            n === b ? ['routes-changed from a', 'inbox-waiting from a'] : ['routes-changed from a'],
          );
          expect(n.inbox.ids()).to.deep.equal([]);
        }
      });

      it("drops the signals left in a dead node's queue when another node adopts it", async function () {
        const [a, b] = [await startNode(), await startNode()];
        await b.broker.close();
        const waiting = message(a.id, { target: { kind: 'user', user: 'u1' } });
        await a.broker.signal([b.id], { kind: 'inbox-waiting', user: 'u1', subscription: '/queue/x' });
        await a.broker.sendToNodes([b.id], waiting);
        const adopted: RelayMessage[] = [];
        await a.broker.adoptQueue(b.id, async (m) => void adopted.push(m));
        expect(adopted.map((m) => m.id)).to.deep.equal([waiting.id]);
        expect(a.inbox.signals).to.deep.equal([]);
      });

      it('leaves alone the queue of a node taken for dead that still consumes it, which keeps receiving', async function () {
        const [a, b] = [await startNode(), await startNode()];
        const before = message(a.id);
        await a.broker.sendToNodes([b.id], before);
        await drain(a, [b]);
        let refused: unknown;
        const adopted: RelayMessage[] = [];
        await a.broker.adoptQueue(b.id, async (m) => void adopted.push(m)).catch((err: unknown) => (refused = err));
        expect(refused).to.be.instanceOf(QueueInUseError);
        const after = message(a.id);
        await a.broker.sendToNodes([b.id], after);
        await drain(a, [b]);
        expect(adopted).to.deep.equal([]);
        expect(b.inbox.ids()).to.deep.equal([before.id, after.id]);
      });

      it('broadcasts to exactly the nodes that bound a matching destination or pattern, until they unbind', async function () {
        const [a, b, c] = [await startNode(), await startNode(), await startNode()];
        await a.broker.bind('/topic/news');
        await b.broker.bind('/topic/docs/*/edits');
        await b.broker.bind('/topic/news');
        const news = message(c.id, { destination: '/topic/news' });
        const edit = message(c.id, { destination: '/topic/docs/42/edits' });
        const miss = message(c.id, { destination: '/topic/docs/42/x/edits' });
        for (const m of [news, edit, miss]) await c.broker.publish(m);
        await drain(c, [a, b, c]);
        expect(a.inbox.ids()).to.deep.equal([news.id]);
        expect(b.inbox.ids()).to.deep.equal([news.id, edit.id]);
        expect(c.inbox.ids()).to.deep.equal([]);

        await b.broker.unbind('/topic/docs/*/edits');
        await a.broker.unbind('/topic/news');
        const later = message(c.id, { destination: '/topic/news' });
        await c.broker.publish(message(c.id, { destination: '/topic/docs/43/edits' }));
        await c.broker.publish(later);
        await drain(c, [a, b, c]);
        expect(a.inbox.ids()).to.deep.equal([news.id]);
        expect(b.inbox.ids()).to.deep.equal([news.id, edit.id, later.id]);
        expect(c.inbox.ids()).to.deep.equal([]);
      });
    }

    if (factory.queues) {
      it('delivers again a message whose handler rejected', async function () {
        let failed = false;
        const a = await startNode(undefined, async (msg) => {
          if (msg.destination !== MARKER && !failed) {
            failed = true;
            throw new Error('handler failure for the test');
          }
        });
        const m = message(a.id, { target: { kind: 'user', user: 'u1' } });
        await a.broker.sendToNodes([a.id], m);
        await a.inbox.until((r) => r.filter((x) => x.id === m.id).length === 2, 'the redelivery');
        await drain(a, [a]);
        expect(a.inbox.ids()).to.deep.equal([m.id, m.id]);
      });

      it('keeps what was sent to a closed node for the next broker with its id, without its old bindings', async function () {
        const a = await startNode();
        const b = await startNode();
        await b.broker.bind('/topic/old');
        await b.broker.close();
        const waiting = message(a.id, { target: { kind: 'user', user: 'u1' } });
        await a.broker.sendToNodes([b.id], waiting);

        const b2 = await startNode(b.id);
        await b2.inbox.until((r) => r.some((x) => x.id === waiting.id), 'the message sent while closed');
        await a.broker.publish(message(a.id, { destination: '/topic/old' }));
        await drain(a, [b2]);
        expect(b2.inbox.ids()).to.deep.equal([waiting.id]);
        expect(b.inbox.ids()).to.deep.equal([]);
      });
    } else {
      it('rejects the send when the handler rejects (nothing was accepted)', async function () {
        const a = await startNode(undefined, async (msg) => {
          if (msg.destination !== MARKER) throw new Error('handler failure for the test');
        });
        const m = message(a.id, { target: { kind: 'user', user: 'u1' } });
        const err: unknown = await a.broker.sendToNodes([a.id], m).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(Error);
      });
    }
  });
}
