import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { Destination, NodeId } from '../ids.js';
import { encodeEnvelope } from '../relay/relay-envelope.js';
import type { RelayMessage } from '../relay/relay-message.js';
import type { AckBatcher } from './ack-batcher.js';
import {
  backoffDelay,
  BrokerClosedError,
  errorMessage,
  NO_LOG,
  safeHost,
  WakeablePause,
  waitAtMost,
  watchConnection,
  withHeartbeat,
  type BrokerLog,
} from './amqp-util.js';
import { BroadcastBindings } from './broadcast-bindings.js';
import { UnroutableError, type Broker, type ControlSignal, type MessageHandler, type SignalHandler } from './broker.js';
import { SIGNAL_BROADCAST, signalMessage, splitSignals } from './control-signal.js';
import { ConfirmPublisher, openConfirmChannel, swapConfirmChannel } from './confirm-publisher.js';
import { adoptNodeQueue } from './queue-adoption.js';
import { batchBounds, CONNECT_TIMEOUT_MS, type RabbitBrokerOptions } from './rabbit-broker-options.js';
import { RelayBatcher } from './relay-batcher.js';
import { RelayConsumer } from './relay-consumer.js';
import { consumeNodeQueue, openConsumerChannel } from './consumer-channel.js';
import type { DeliveryWatchdog } from './delivery-watchdog.js';
import {
  RabbitTopology,
  DEFAULT_NODE_QUEUE_EXPIRES_MS,
  assertNodeId,
  broadcastRoutingKey,
  isValidNodeId,
  nodeQueueOptions,
} from './rabbit-topology.js';

export { BrokerClosedError, type BrokerLog } from './amqp-util.js';
export { PublishBufferFullError } from './confirm-publisher.js';
export type { RabbitBrokerOptions } from './rabbit-broker-options.js';

/** The pause before a nacked publish goes out again on a fresh channel. */
const NACK_PAUSE_MS = 250;

/**
 * `Broker` on RabbitMQ (SPEC §5, §8); maps the interface to the wire and nothing more.
 *
 * - One connection; a confirm channel publishes, a second channel declares topology and consumes
 *   the node queue (manual ack, `prefetch`). Names: rabbit-topology.ts.
 * - Wire: what one turn of the event loop sends to one node (or one broadcast key) is one AMQP
 *   message (RelayBatcher): a single relay message as its binary envelope with `messageId` = its
 *   id, several as a batch of envelopes (relay-envelope.ts); persistent unless configured not.
 * - Handlers run one at a time per origin node (so per-sender order holds at the handler), in
 *   parallel across origins. Ack after the handler resolved; on rejection, nack with requeue
 *   (after a short pause) up to `maxDeliveryAttempts`, then drop with an error log.
 * - Connection loss: reconnect with capped, jittered exponential backoff; re-declare, re-bind,
 *   re-consume. Publishes made meanwhile, and sent ones never confirmed, wait in a bounded buffer
 *   and go out in order after reconnect (so a message may arrive twice: ids allow dedup).
 *
 * The parts: RelayBatcher (batches), ConfirmPublisher (publishing), RelayConsumer (handlers, acks), BroadcastBindings
 * (topic bindings); this class owns the connection and its channels and hands them out.
 */
export class RabbitBroker implements Broker {
  readonly nodeId: NodeId;
  /** The RabbitMQ cluster's members; `member` is the one in use or tried next. */
  private readonly urls: readonly string[];
  private member = 0;
  private signals = 0;
  private readonly queueType: 'quorum' | 'classic';
  private readonly topology: RabbitTopology;
  private readonly queue: string;
  private readonly prefetch: number;
  private readonly log: BrokerLog;
  private readonly queueExpiresMs: number;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxDeliveryAttempts: number;
  private readonly closeTimeoutMs: number;
  private readonly hooks: Pick<RabbitBrokerOptions, 'onConnected' | 'beforeDeclare' | 'stallCheckMs'>;
  private watchdog: DeliveryWatchdog | undefined;
  private consumer: RelayConsumer | undefined;
  private startPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  private closing = false;
  /** Set once the first connection of this instance was set up (later ones are reconnects). */
  private connectedOnce = false;
  private connecting: Promise<void> | undefined;

  private conn: ChannelModel | undefined;
  private subCh: Channel | undefined;
  private pubCh: ConfirmChannel | undefined;
  /** A fresh publish channel is on its way (after a nack). */
  private renewing = false;
  private subAcks: AckBatcher<ConsumeMessage> | undefined;
  private consumerTag: string | undefined;
  private ready = false;
  /** RabbitMQ blocked publishing (memory or disk alarm): not ready, though connected. */
  private serverBlocked = false;

  private readonly publisher: ConfirmPublisher;
  private readonly batcher: RelayBatcher;
  private readonly bindings: BroadcastBindings;
  private readyWaiters: { resolve(): void; reject(err: Error): void }[] = [];
  /** The reconnect back-off, cut short by `close()`. */
  private readonly pause = new WakeablePause();

  /** Throws synchronously for an invalid node id or name prefix. Connects only in `start`. */
  constructor(options: RabbitBrokerOptions) {
    assertNodeId(options.nodeId);
    this.nodeId = options.nodeId;
    this.topology = new RabbitTopology(options.namePrefix);
    this.queue = this.topology.nodeQueue(options.nodeId);
    const urls = typeof options.url === 'string' ? [options.url] : options.url;
    if (urls.length === 0) throw new Error('RabbitBroker needs at least one AMQP URL');
    this.urls = urls.map(withHeartbeat);
    this.queueType = options.queueType ?? 'quorum';
    this.prefetch = options.prefetch ?? 256;
    this.log = options.log ?? NO_LOG;
    this.queueExpiresMs = options.nodeQueueExpiresMs ?? DEFAULT_NODE_QUEUE_EXPIRES_MS;
    this.minDelayMs = options.reconnectMinDelayMs ?? 100;
    this.maxDelayMs = options.reconnectMaxDelayMs ?? 30_000;
    this.maxDeliveryAttempts = options.maxDeliveryAttempts ?? 5;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.hooks = options;
    const maxPending = options.maxPendingPublishes ?? 10_000;
    this.publisher = new ConfirmPublisher(maxPending, options.pressure, () => this.renewPublishChannel());
    const sink = {
      admit: (records: number): void => {
        if (this.closing) throw new BrokerClosedError();
        this.publisher.admit(records);
      },
      publish: this.publisher.publish.bind(this.publisher),
    };
    const bounds = batchBounds(options, maxPending);
    this.batcher = new RelayBatcher(sink, options.persistent ?? true, bounds, setImmediate, options.onBatch);
    this.bindings = new BroadcastBindings({
      nodeExchange: this.topology.nodeBroadcastExchange(options.nodeId),
      broadcastExchange: this.topology.broadcastExchange,
      channel: () => (this.ready ? this.subCh : undefined),
      whenReady: () => this.whenReady(),
      log: this.log,
    });
  }

  /**
   * Connects, retrying with backoff (each failure logged at warn, never thrown) until RabbitMQ is
   * reachable; declares the topology; removes broadcast bindings left by an earlier run of this
   * node id; consumes the node queue. Resolves once consuming; rejects only if `close()` is
   * called first. A second call returns the first call's promise.
   */
  start(onMessage: MessageHandler, onSignal?: SignalHandler): Promise<void> {
    if (this.closing) return Promise.reject(new BrokerClosedError());
    this.startPromise ??= (async (): Promise<void> => {
      this.consumer = new RelayConsumer(splitSignals(onMessage, onSignal), {
        log: this.log,
        maxDeliveryAttempts: this.maxDeliveryAttempts,
        closing: () => this.closing,
      });
      await this.connectUntilReady();
      await this.bindings.bind(SIGNAL_BROADCAST);
    })();
    return this.startPromise;
  }

  /** A publish to the broadcast exchange (`'all'`) or to the nodes' queues; a node without a queue is gone, and so is its need. */
  async signal(to: readonly NodeId[] | 'all', signal: ControlSignal): Promise<void> {
    const msg = signalMessage(signal, this.nodeId, `${this.nodeId}:signal-${++this.signals}`);
    // Every signal to all nodes rides the one binding key each node holds for them.
    if (to === 'all') return this.publish(msg, SIGNAL_BROADCAST);
    await this.sendToNodes(to, msg).catch((err: unknown) => {
      if (!(err instanceof UnroutableError)) throw err;
    });
  }

  /**
   * One mandatory publish per distinct node to the relay exchange (batched with the other messages
   * of this turn for that node). Resolves when RabbitMQ confirmed all of them; rejects with
   * `UnroutableError` naming the nodes whose queue is gone (returned by RabbitMQ, or an id that
   * cannot name a queue) once the others were confirmed; rejects with another error when a publish
   * was not accepted (buffer full, closed). While disconnected the publishes wait in the buffer.
   */
  async sendToNodes(nodes: readonly NodeId[], msg: RelayMessage): Promise<void> {
    const targets = [...new Set(nodes)];
    const unroutable = targets.filter((n) => !isValidNodeId(n));
    const routable = targets.filter((n) => isValidNodeId(n));
    if (routable.length > 0) {
      const content = encodeEnvelope(msg);
      const results = await Promise.allSettled(
        routable.map((n) =>
          this.batcher.add(this.topology.relayExchange, this.topology.nodeRoutingKey(n), true, msg.id, content),
        ),
      );
      let failure: Error | undefined;
      results.forEach((r, i) => {
        if (r.status === 'rejected') failure ??= r.reason instanceof Error ? r.reason : new Error(String(r.reason));
        else if (r.value) unroutable.push(routable[i] as NodeId);
      });
      if (failure !== undefined) throw failure;
    }
    if (unroutable.length > 0) throw new UnroutableError(unroutable);
  }

  /**
   * One publish to the broadcast exchange with the destination's routing key (batched with the
   * other messages of this turn for that key). Resolves when RabbitMQ confirmed it (also when no
   * node bound a matching destination: then nobody needed it).
   */
  async publish(msg: RelayMessage, routeAs: Destination = msg.destination): Promise<void> {
    await this.batcher.add(
      this.topology.broadcastExchange,
      broadcastRoutingKey(routeAs),
      false,
      msg.id,
      encodeEnvelope(msg),
    );
  }

  /** Reference-counted binding keys of `destination` (BroadcastBindings); rejects only when the broker closes first. */
  bind(destination: Destination): Promise<void> {
    if (this.closing) return Promise.reject(new BrokerClosedError());
    return this.bindings.bind(destination);
  }

  /** Releases the binding keys no other bound destination needs (BroadcastBindings). Idempotent. */
  unbind(destination: Destination): Promise<void> {
    return this.bindings.unbind(destination);
  }

  /**
   * See `adoptNodeQueue`; for this node's own id (drain) consuming stops first. Another node's is
   * refused while disconnected, not waited for: the reconnect may itself wait for that node's
   * claim on this node's queue (each took the other for dead); the caller retries.
   */
  async adoptQueue(nodeId: NodeId, onMessage: MessageHandler): Promise<number> {
    if (!isValidNodeId(nodeId)) return 0;
    const own = nodeId === this.nodeId;
    if (own) await this.whenReady();
    else if (!this.ready) throw new Error('RabbitMQ not connected');
    const conn = this.conn;
    if (!conn) return 0;
    if (own) await this.stopConsuming();
    return adoptNodeQueue(conn, this.topology, nodeId, splitSignals(onMessage), this.log, own);
  }

  /** Cancels this node's consumer and waits for running handlers (drain). */
  private async stopConsuming(): Promise<void> {
    const { subCh, consumerTag } = this;
    this.consumerTag = undefined;
    this.watchdog?.stop();
    if (subCh && consumerTag) await subCh.cancel(consumerTag).catch(() => undefined);
    await this.within(this.consumer?.idle() ?? Promise.resolve());
    this.subAcks?.flush(true);
  }

  /** Reconnects, which declares the queue and its bindings again and then has the sessions take their inboxes (`onConnected`). */
  redeclare(): void {
    if (this.conn) this.lost(this.conn, 'taken for dead: declaring the node queue again');
  }

  /** True while connected, with topology declared, the consumer running, and publishing not blocked by a RabbitMQ alarm. */
  isReady(): boolean {
    return this.ready && !this.serverBlocked;
  }

  /**
   * Cancels the consumer, lets running handlers finish and sent publishes be confirmed (up to
   * `closeTimeoutMs`), then closes the connection: unacknowledged deliveries return to the queue.
   * Publishes still buffered reject with `BrokerClosedError`. The node queue stays. Idempotent.
   */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  // ---- connection lifecycle -------------------------------------------------------------------

  private async connectUntilReady(): Promise<void> {
    for (let attempt = 1; !this.closing; attempt++) {
      try {
        this.connecting = this.connectOnce();
        await this.connecting;
        return;
      } catch (err) {
        if (this.closing) break;
        const host = safeHost(this.url);
        // The next member of the cluster at once; a pause only once every member failed in a row.
        this.member = (this.member + 1) % this.urls.length;
        const round = Math.ceil(attempt / this.urls.length);
        const delayMs = attempt % this.urls.length === 0 ? backoffDelay(round, this.minDelayMs, this.maxDelayMs) : 0;
        // SPEC §8: say so in the log, retry; the message, not a stack trace.
        this.log.warn({ err: errorMessage(err), attempt, delayMs, host }, 'RabbitMQ not reachable, retrying');
        await this.pause.for(delayMs);
      } finally {
        this.connecting = undefined;
      }
    }
    throw new BrokerClosedError('RabbitBroker closed before it connected');
  }

  /** The member in use, or tried next. */
  private get url(): string {
    return this.urls[this.member] as string;
  }

  private async connectOnce(): Promise<void> {
    const conn = await connect(this.url, {
      timeout: CONNECT_TIMEOUT_MS,
      // amqplib writes a frame over ~2 KiB in two chunks; with Nagle on, the second waits for
      // the peer's delayed ACK (~40 ms per 4 KiB message, measured by the bench).
      noDelay: true,
      clientProperties: { connection_name: `stomp-relay ${this.nodeId}` },
    });
    // A close during setup fires before `this.conn` is set, so `lost` ignores it: it ends the setup
    // here instead. amqplib may leave an RPC of a connection that closed unanswered: the setup
    // races the close, so a retry always follows.
    let setupFailed: (err: Error) => void = () => undefined;
    const closed = new Promise<never>((_, reject) => (setupFailed = reject));
    closed.catch(() => undefined);
    const onClose = (reason: string) => (): void => {
      setupFailed(new Error(`${reason} during setup`));
      this.lost(conn, reason);
    };
    try {
      conn.on('close', onClose('connection closed'));
      watchConnection(conn, this.log, (blocked) => (this.serverBlocked = blocked));

      const setUp = async () => {
        const pub = await openConfirmChannel(conn, this.publisher, this.log, onClose('publish channel closed'));
        const sub = await openConsumerChannel(conn, {
          topology: this.topology,
          nodeId: this.nodeId,
          queueOptions: nodeQueueOptions(this.queueExpiresMs, this.queueType),
          firstRun: !this.connectedOnce,
          beforeDeclare: this.hooks.beforeDeclare,
          bindings: this.bindings,
          prefetch: this.prefetch,
          log: this.log,
          onClose: onClose('consumer channel closed'),
        });
        const { consumerTag, watchdog, acks } = await consumeNodeQueue(
          sub,
          this.queue,
          this.consumer as RelayConsumer,
          {
            prefetch: this.prefetch,
            log: this.log,
            stallCheckMs: this.hooks.stallCheckMs,
            onLost: (reason) => this.lost(conn, reason),
          },
        );
        this.watchdog?.stop();
        this.watchdog = watchdog;
        return { pub, sub, acks, consumerTag };
      };
      const setup = setUp();
      setup.catch(() => undefined); // when the close won the race
      const { pub, sub, acks, consumerTag } = await Promise.race([setup, closed]);

      if (this.closing) throw new BrokerClosedError();
      this.conn = conn;
      this.pubCh = pub;
      this.subCh = sub;
      this.subAcks = acks;
      this.consumerTag = consumerTag;
      this.ready = true;
      this.log.info({ node: this.nodeId, queue: this.queue, reconnect: this.connectedOnce }, 'RabbitMQ connected');
      this.connectedOnce = true;
      for (const w of this.readyWaiters.splice(0)) w.resolve();
      this.publisher.attach(pub);
      this.hooks.onConnected?.();
    } catch (err) {
      // Not awaited: close() of a connection that already failed may never settle (amqplib).
      conn.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * RabbitMQ nacked a publish (a quorum queue electing a leader after a member died): after a
   * pause, what waits goes out on a fresh channel, since the old one may keep nacking.
   */
  private renewPublishChannel(): void {
    const conn = this.conn;
    if (this.renewing || !conn || this.closing) return;
    this.renewing = true;
    this.log.warn({}, 'RabbitMQ nacked a publish; sending again on a fresh channel');
    setTimeout(() => {
      const onClose = (): void => this.lost(conn, 'publish channel closed');
      void swapConfirmChannel(conn, this.publisher, this.log, onClose, () => this.conn === conn, this.pubCh)
        .then((fresh) => {
          if (fresh) this.pubCh = fresh;
          else this.lost(conn, 'could not renew the publish channel');
        })
        .finally(() => (this.renewing = false));
    }, NACK_PAUSE_MS).unref();
  }

  /** The connection or one of its channels went away: park everything and reconnect. */
  private lost(conn: ChannelModel, reason: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.pubCh = undefined;
    this.subCh = undefined;
    this.subAcks = undefined;
    this.consumerTag = undefined;
    this.watchdog?.stop();
    this.ready = false;
    this.serverBlocked = false;
    this.publisher.detach();
    // A channel can die alone (a channel error); the connection then has to go too.
    conn.close().catch(() => undefined);
    if (this.closing) return;
    this.log.warn({ reason, waiting: this.publisher.waiting }, 'RabbitMQ connection lost, reconnecting');
    this.connectUntilReady().catch(() => undefined);
  }

  private async shutdown(): Promise<void> {
    // What was accepted for sending this turn still goes out (and is confirmed, within the timeout).
    this.batcher.flush(true);
    this.closing = true;
    this.watchdog?.stop();
    this.pause.wake();
    for (const w of this.readyWaiters.splice(0)) w.reject(new BrokerClosedError());
    await this.connecting?.catch(() => undefined);
    const { conn, subCh, consumerTag } = this;
    if (subCh && consumerTag) await subCh.cancel(consumerTag).catch(() => undefined);
    await this.within(this.consumer?.idle() ?? Promise.resolve());
    this.subAcks?.flush(true);
    if (this.publisher.unconfirmed > 0) await this.within(this.publisher.waitForConfirms());
    this.ready = false;
    this.conn = undefined;
    this.subCh = undefined;
    this.subAcks = undefined;
    this.publisher.close();
    await conn?.close().catch(() => undefined);
    this.log.info({ node: this.nodeId }, 'RabbitMQ broker closed');
  }

  // ---- helpers --------------------------------------------------------------------------------

  private whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.closing) return Promise.reject(new BrokerClosedError());
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** Waits for `p`, at most `closeTimeoutMs`. */
  private within(p: Promise<unknown>): Promise<void> {
    return waitAtMost(p, this.closeTimeoutMs);
  }
}
