import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { connect, type Channel } from 'amqplib';
import type { Broker } from '../../server/broker/broker.js';
import { MemoryBroker } from '../../server/broker/memory-broker.js';
import { RabbitBroker, type BrokerLog, type RabbitBrokerOptions } from '../../server/broker/rabbit-broker.js';
import { RabbitTopology } from '../../server/broker/rabbit-topology.js';
import { decodeDelivery } from '../../server/broker/amqp-util.js';
import type { RelayMessage } from '../../server/relay/relay-message.js';
import type { NodeId } from '../../server/ids.js';
import { TEST_AMQP_URL, requireService, uniquePrefix } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { brokerContract } from './broker.contract.js';

brokerContract('MemoryBroker', () => ({
  cluster: false,
  queues: false,
  create: (nodeId) => new MemoryBroker(nodeId),
}));

/** A TCP forwarder to RabbitMQ that the test can cut and refuse, to lose the connection without touching the server. */
class Link {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async open(targetUrl: string): Promise<Link> {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const u = new URL(targetUrl);
    const link = new Link(port, { host: u.hostname, port: Number(u.port || 5672) });
    await link.up();
    return link;
  }

  /** `url` with host and port replaced by this link's. */
  url(base: string): string {
    const u = new URL(base);
    u.host = `127.0.0.1:${this.port}`;
    return u.toString();
  }

  async up(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
  }

  /** Refuses new connections and cuts the open ones. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}

function relayMessage(origin: NodeId, over: Partial<RelayMessage> = {}): RelayMessage {
  return {
    id: `m-${randomBytes(6).toString('hex')}`,
    target: { kind: 'user', user: 'u1' },
    destination: '/q',
    headers: [],
    body: Buffer.from('x'),
    origin,
    sentAt: Date.now(),
    ...over,
  };
}

/** Runs `work` on a channel of a connection of its own (what another process does to RabbitMQ). */
async function onRabbit(work: (ch: Channel) => Promise<unknown>): Promise<void> {
  const conn = await connect(TEST_AMQP_URL);
  try {
    await work(await conn.createChannel());
  } finally {
    await conn.close();
  }
}

/** Collects warn/error lines, so a test can see the retries were logged. */
function recordingLog(): BrokerLog & { readonly lines: string[] } {
  const lines: string[] = [];
  const noop = (): void => undefined;
  return { lines, debug: noop, info: noop, warn: (_o, msg) => lines.push(msg), error: (_o, msg) => lines.push(msg) };
}

describe('RabbitBroker on RabbitMQ', function () {
  // `test-broker-123-abcdef:` → `test-broker-123-abcdef.`: this run's own exchanges and queues.
  const namePrefix = uniquePrefix('broker').replace(/:$/, '.');
  const topology = new RabbitTopology(namePrefix);
  const nodeIds = new Set<NodeId>();

  function rabbit(nodeId: NodeId, options: Partial<RabbitBrokerOptions> = {}): RabbitBroker {
    nodeIds.add(nodeId);
    return new RabbitBroker({ url: TEST_AMQP_URL, nodeId, namePrefix, closeTimeoutMs: 2000, ...options });
  }

  before(async function () {
    await requireService(this, 'rabbitmq');
  });

  after(async function () {
    if (nodeIds.size === 0) return;
    const conn = await connect(TEST_AMQP_URL);
    try {
      const ch = await conn.createChannel();
      for (const id of nodeIds) {
        await ch.deleteQueue(topology.nodeQueue(id));
        await ch.deleteExchange(topology.nodeBroadcastExchange(id));
      }
      await ch.deleteExchange(topology.relayExchange);
      await ch.deleteExchange(topology.broadcastExchange);
      await ch.close();
    } finally {
      await conn.close();
    }
  });

  brokerContract('RabbitBroker', () => ({ cluster: true, queues: true, create: (nodeId) => rabbit(nodeId) }));

  describe('durability of the node hop', function () {
    /** What a closed node's queue holds after one message and one batch of two were sent to it. */
    async function leftFor(persistent: boolean): Promise<{ deliveryMode: unknown; ids: string[] }[]> {
      const target = rabbit(`dur-${persistent}-${randomBytes(3).toString('hex')}`);
      await target.start(() => undefined);
      await target.close();
      const sender = rabbit(`sender-${randomBytes(3).toString('hex')}`, { persistent });
      await sender.start(() => undefined);
      try {
        await sender.sendToNodes([target.nodeId], relayMessage(sender.nodeId, { id: 'alone' }));
        await Promise.all(
          ['b1', 'b2'].map((id) => sender.sendToNodes([target.nodeId], relayMessage(sender.nodeId, { id }))),
        );
      } finally {
        await sender.close();
      }
      const conn = await connect(TEST_AMQP_URL);
      try {
        const ch = await conn.createChannel();
        const left: { deliveryMode: unknown; ids: string[] }[] = [];
        for (
          let m = await ch.get(topology.nodeQueue(target.nodeId));
          m !== false;
          m = await ch.get(topology.nodeQueue(target.nodeId))
        ) {
          left.push({ deliveryMode: m.properties.deliveryMode, ids: decodeDelivery(m).map((r) => r.id) });
        }
        return left;
      } finally {
        await conn.close();
      }
    }

    it("sends persistent AMQP messages by default, a turn's messages for one node as one batch", async function () {
      expect(await leftFor(true)).to.deep.equal([
        { deliveryMode: 2, ids: ['alone'] },
        { deliveryMode: 2, ids: ['b1', 'b2'] },
      ]);
    });

    it('sends transient ones with persistent: false (RELAY_PERSISTENT=false), still confirmed', async function () {
      expect(await leftFor(false)).to.deep.equal([
        { deliveryMode: 1, ids: ['alone'] },
        { deliveryMode: 1, ids: ['b1', 'b2'] },
      ]);
    });
  });

  describe('connection loss', function () {
    const opened: Broker[] = [];
    let link: Link | undefined;
    const fast = { reconnectMinDelayMs: 20, reconnectMaxDelayMs: 200 };

    afterEach(async function () {
      await Promise.all(opened.splice(0).map((b) => b.close()));
      await link?.down();
      link = undefined;
    });

    function node(
      label: string,
      options: Partial<RabbitBrokerOptions> = {},
    ): { id: NodeId; broker: RabbitBroker; got: RelayMessage[] } {
      const id = `${label}-${randomBytes(4).toString('hex')}`;
      const broker = rabbit(id, options);
      opened.push(broker);
      return { id, broker, got: [] };
    }

    /**
     * Runs `body` while a second queue on `nodeId`'s routing key refuses every message, so RabbitMQ
     * nacks the publishes to that node (as for a quorum queue without a leader); `accept()` removes it.
     */
    async function whileNacking(nodeId: NodeId, body: (accept: () => Promise<void>) => Promise<void>): Promise<void> {
      const conn = await connect(TEST_AMQP_URL);
      const blocker = `${namePrefix}blocker-${randomBytes(3).toString('hex')}`;
      try {
        const ch = await conn.createChannel();
        await ch.assertQueue(blocker, { arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
        await ch.bindQueue(blocker, topology.relayExchange, topology.nodeRoutingKey(nodeId));
        await body(async () => void (await ch.deleteQueue(blocker)));
      } finally {
        await conn.close();
      }
    }

    it('keeps retrying start until RabbitMQ is reachable, logging each failure', async function () {
      link = await Link.open(TEST_AMQP_URL);
      await link.down();
      const log = recordingLog();
      const b = node('late', { url: link.url(TEST_AMQP_URL), log, ...fast });
      let started = false;
      const starting = b.broker.start(async (m) => void b.got.push(m)).then(() => (started = true));
      await waitFor(() => log.lines.length >= 2, 'two logged failed attempts');
      expect(started).to.equal(false);
      expect(b.broker.isReady()).to.equal(false);
      await link.up();
      await starting;
      expect(b.broker.isReady()).to.equal(true);
    });

    it('moves to the next member of a RabbitMQ cluster at once when the one in use is lost, and skips a dead one at start', async function () {
      // Two links to the same broker stand for two members of one cluster; a third, closed, for a dead one.
      const dead = await Link.open(TEST_AMQP_URL);
      await dead.down();
      link = await Link.open(TEST_AMQP_URL);
      const second = await Link.open(TEST_AMQP_URL);
      try {
        const log = recordingLog();
        const urls = [dead.url(TEST_AMQP_URL), link.url(TEST_AMQP_URL), second.url(TEST_AMQP_URL)];
        const b = node('members', { url: urls, log, reconnectMinDelayMs: 5_000, reconnectMaxDelayMs: 5_000 });
        await b.broker.start(async (m) => void b.got.push(m));
        expect(log.lines.filter((l) => l === 'RabbitMQ not reachable, retrying')).to.have.length(1);
        const before = relayMessage(b.id);
        await b.broker.sendToNodes([b.id], before);

        const cutAt = Date.now();
        await link.down(); // the member in use dies
        const after = relayMessage(b.id);
        await b.broker.sendToNodes([b.id], after); // waits in the buffer, goes out through the next member
        // Well under the 5 s pause a retry of the same member would take.
        expect(Date.now() - cutAt).to.be.lessThan(4_000);
        await waitFor(() => b.got.some((m) => m.id === after.id), 'the message sent after the cut');
        expect(b.got.map((m) => m.id).filter((id) => id === before.id || id === after.id)).to.include.members([
          before.id,
          after.id,
        ]);
      } finally {
        await second.down();
      }
    });

    it('reconnects, restores its binding, and publishes what waited while it was down', async function () {
      link = await Link.open(TEST_AMQP_URL);
      const a = node('direct');
      const b = node('linked', { url: link.url(TEST_AMQP_URL), ...fast });
      await a.broker.start(async (m) => void a.got.push(m));
      await b.broker.start(async (m) => void b.got.push(m));
      await b.broker.bind('/topic/r');

      await link.down();
      await waitFor(() => !b.broker.isReady(), 'b to notice the lost connection');
      const fromB = relayMessage(b.id);
      const sending = b.broker.sendToNodes([a.id], fromB);
      const toB = relayMessage(a.id);
      const cast = relayMessage(a.id, { target: { kind: 'broadcast' }, destination: '/topic/r' });
      await a.broker.sendToNodes([b.id], toB);
      await a.broker.publish(cast);

      await link.up();
      await sending;
      await waitFor(() => b.broker.isReady(), 'b to reconnect');
      await waitFor(() => a.got.some((m) => m.id === fromB.id), 'the buffered message on a');
      await waitFor(
        () => b.got.some((m) => m.id === toB.id) && b.got.some((m) => m.id === cast.id),
        "what waited in b's queue",
      );

      const after = relayMessage(a.id, { target: { kind: 'broadcast' }, destination: '/topic/r' });
      await a.broker.publish(after);
      await waitFor(() => b.got.some((m) => m.id === after.id), 'a broadcast after reconnect');
    });

    it('declares its broadcast exchange and bindings again when RabbitMQ lost them while it was away (a restart of every member)', async function () {
      link = await Link.open(TEST_AMQP_URL);
      const a = node('direct');
      const b = node('linked', { url: link.url(TEST_AMQP_URL), ...fast });
      await a.broker.start(async (m) => void a.got.push(m));
      await b.broker.start(async (m) => void b.got.push(m));
      await b.broker.bind('/topic/restart');
      await b.broker.bind('/topic/other/*');

      await link.down();
      await waitFor(() => !b.broker.isReady(), 'b to notice the lost connection');
      // What a restart of the whole RabbitMQ does to a transient exchange and its bindings.
      await onRabbit((ch) => ch.deleteExchange(topology.nodeBroadcastExchange(b.id)));
      await link.up();
      await waitFor(() => b.broker.isReady(), 'b to reconnect');

      const casts = ['/topic/restart', '/topic/other/x'].map((destination) =>
        relayMessage(a.id, { target: { kind: 'broadcast' }, destination }),
      );
      for (const cast of casts) await a.broker.publish(cast);
      await waitFor(() => casts.every((c) => b.got.some((m) => m.id === c.id)), 'both broadcasts after reconnect');
    });

    it("refuses to take over another node's queue while disconnected, instead of waiting for the reconnect", async function () {
      // Two nodes that took each other for dead: each one's reconnect waits for the other's claim
      // to end, so a takeover that waited for its own reconnect would never end.
      link = await Link.open(TEST_AMQP_URL);
      const b = node('linked', { url: link.url(TEST_AMQP_URL), ...fast });
      await b.broker.start(async (m) => void b.got.push(m));
      await link.down();
      await waitFor(() => !b.broker.isReady(), 'b to notice the lost connection');
      const outcome = await Promise.race([
        b.broker
          .adoptQueue('someone-else', async () => undefined)
          .then(
            () => 'adopted',
            (err: unknown) => `refused: ${String(err)}`,
          ),
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 2_000)),
      ]);
      expect(outcome).to.match(/^refused/);
    });

    it('starts where an earlier version left its broadcast exchange durable, and receives broadcasts', async function () {
      const a = node('direct');
      const b = node('upgraded');
      await onRabbit((ch) =>
        ch.assertExchange(topology.nodeBroadcastExchange(b.id), 'fanout', { durable: true, autoDelete: false }),
      );
      await a.broker.start(async (m) => void a.got.push(m));
      await b.broker.start(async (m) => void b.got.push(m));
      await b.broker.bind('/topic/upgraded');
      const cast = relayMessage(a.id, { target: { kind: 'broadcast' }, destination: '/topic/upgraded' });
      await a.broker.publish(cast);
      await waitFor(() => b.got.some((m) => m.id === cast.id), 'the broadcast');
    });

    it('republishes unconfirmed messages after a cut, in order, and resolves every send', async function () {
      link = await Link.open(TEST_AMQP_URL);
      const a = node('direct');
      const log = recordingLog();
      const b = node('linked', { url: link.url(TEST_AMQP_URL), log, ...fast });
      await a.broker.start(async (m) => void a.got.push(m));
      await b.broker.start(async (m) => void b.got.push(m));
      const sent = Array.from({ length: 500 }, () => relayMessage(b.id));
      const sends = sent.map((m) => b.broker.sendToNodes([a.id], m));
      const l = link;
      setImmediate(() => void l.down().then(() => l.up()));
      await Promise.all(sends);
      expect(log.lines).to.include('RabbitMQ connection lost, reconnecting');
      await waitFor(() => new Set(a.got.map((m) => m.id)).size === sent.length, 'every message on a');
      // At least once: a cut may duplicate, but the first copies keep the send order.
      const firsts = [...new Set(a.got.map((m) => m.id))];
      expect(firsts).to.deep.equal(sent.map((m) => m.id));
    });

    it('sends a nacked publish again on a new connection when RabbitMQ opens no fresh channel for it', async function () {
      this.timeout(20_000);
      // channelMax=2: the publish and consume channels; the fresh one a nack asks for cannot be opened.
      const url = new URL(TEST_AMQP_URL);
      url.searchParams.set('channelMax', '2');
      const log = recordingLog();
      const a = node('target');
      const b = node('nacked', { url: url.toString(), log, ...fast });
      await a.broker.start(async (m) => void a.got.push(m));
      await b.broker.start(async (m) => void b.got.push(m));
      await whileNacking(a.id, async (accept) => {
        const m = relayMessage(b.id);
        const sending = b.broker.sendToNodes([a.id], m);
        await waitFor(
          () => log.lines.includes('RabbitMQ connection lost, reconnecting'),
          'b to reconnect after failing to renew its publish channel',
        );
        expect(log.lines).to.include('RabbitMQ nacked a publish; sending again on a fresh channel');
        await accept();
        await sending;
        await waitFor(() => a.got.some((x) => x.id === m.id), 'the nacked message on a');
      });
    });

    it('goes on relaying to other nodes while one node queue nacks, and sends that node its messages in order once it accepts', async function () {
      this.timeout(20_000);
      const log = recordingLog();
      const sick = node('sick');
      const healthy = node('healthy');
      const b = node('sender', { log, ...fast });
      for (const n of [sick, healthy, b]) await n.broker.start(async (m) => void n.got.push(m));
      await whileNacking(sick.id, async (accept) => {
        const toSick = [relayMessage(b.id), relayMessage(b.id)];
        const first = b.broker.sendToNodes([sick.id], toSick[0]!);
        await waitFor(
          () => log.lines.includes('RabbitMQ nacked a publish; sending again on a fresh channel'),
          'a nack',
        );
        const second = b.broker.sendToNodes([sick.id], toSick[1]!);
        const toHealthy = Array.from({ length: 20 }, () => relayMessage(b.id));
        await Promise.all(toHealthy.map((m) => b.broker.sendToNodes([healthy.id], m)));
        await waitFor(() => healthy.got.length >= toHealthy.length, 'every message on the healthy node');
        expect(log.lines.filter((l) => l.includes('connection lost'))).to.have.length(0);
        await accept();
        await Promise.all([first, second]);
        // (The sick node's own queue took a copy of each nacked publish: the blocker's refusal is
        // what RabbitMQ nacked.) First copies in publish order.
        await waitFor(
          () => new Set(sick.got.map((m) => m.id)).size >= 2,
          'the sick node’s messages once its queue accepts',
        );
        expect([...new Set(sick.got.map((m) => m.id))]).to.deep.equal(toSick.map((m) => m.id));
      });
    });

    it('reconnects when RabbitMQ stops delivering to its consumer without a word, and gets what waited', async function () {
      this.timeout(20_000);
      const log = recordingLog();
      const a = node('silenced', { log, stallCheckMs: 200, ...fast });
      const b = node('sender');
      await a.broker.start(async (m) => void a.got.push(m));
      await b.broker.start(async (m) => void b.got.push(m));
      // RabbitMQ's silence, as a soak saw it after cluster members died: no more deliveries, no
      // cancel, the connection up. Here: the consumer is cancelled behind the broker's back.
      const inner = a.broker as unknown as { subCh: Channel; consumerTag: string };
      await inner.subCh.cancel(inner.consumerTag);
      const m = relayMessage(b.id);
      await b.broker.sendToNodes([a.id], m);
      await waitFor(() => a.got.some((x) => x.id === m.id), 'the message sent to the silenced consumer', 10_000);
      expect(log.lines).to.include('RabbitMQ stopped delivering to this node; reconnecting');
    });

    it('rejects publishes beyond the buffer limit while disconnected, and buffered ones at close', async function () {
      const b = node('unstarted', { maxPendingPublishes: 2 });
      const first = b.broker.sendToNodes(['x'], relayMessage(b.id)).then(
        () => 'resolved',
        (e: Error) => e.name,
      );
      const second = b.broker.publish(relayMessage(b.id, { destination: '/topic/x' })).then(
        () => 'resolved',
        (e: Error) => e.name,
      );
      const err: unknown = await b.broker.sendToNodes(['x'], relayMessage(b.id)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as Error).message).to.match(/buffer is full/);
      await b.broker.close();
      expect([await first, await second]).to.deep.equal(['BrokerClosedError', 'BrokerClosedError']);
    });
  });
});
