import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Message, type Options } from 'amqplib';
import type { Destination, NodeId } from '../ids.js';
import { AckBatcher, type AckHandle } from './ack-batcher.js';
import { UnroutableError, type Broker, type MessageHandler } from './broker.js';
import {
  BROADCAST_EXCHANGE_TYPE,
  DURABLE_EXCHANGE,
  NODE_BROADCAST_EXCHANGE,
  NODE_BROADCAST_EXCHANGE_TYPE,
  RELAY_EXCHANGE_TYPE,
  RabbitTopology,
  DEFAULT_NODE_QUEUE_EXPIRES_MS,
  assertNodeId,
  broadcastBindingKeys,
  broadcastRoutingKey,
  isValidNodeId,
  nodeQueueOptions,
} from './rabbit-topology.js';
import { decodeEnvelope, encodeEnvelope } from '../relay/relay-envelope.js';
import type { RelayMessage } from '../relay/relay-message.js';

/** pino-compatible: a pino `Logger` fits. */
export interface BrokerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

const NO_LOG: BrokerLog = { info() {}, warn() {}, error() {}, debug() {} };

export interface RabbitBrokerOptions {
  /** AMQP URL, e.g. `amqp://guest:guest@127.0.0.1:5672`. `heartbeat=10` is added unless the URL sets one. */
  readonly url: string;
  /** This node's id: its queue is `{namePrefix}node.{nodeId}`. 1-64 of A-Z a-z 0-9 . _ - */
  readonly nodeId: NodeId;
  /** Prefix of every exchange and queue name, e.g. `stomp.` (see rabbit-topology.ts). */
  readonly namePrefix: string;
  /** Deliveries in flight to this node's handler (AMQP prefetch). Default 256. */
  readonly prefetch?: number;
  /** Default: no logging. */
  readonly log?: BrokerLog;
  /** `x-expires` of the node queue. Default 3,600,000 (1 h). Must match an existing queue's value. */
  readonly nodeQueueExpiresMs?: number;
  /** Publishes waiting for RabbitMQ (disconnected, or unconfirmed). Default 10,000; beyond it calls reject. */
  readonly maxPendingPublishes?: number;
  /** First reconnect delay. Default 100 ms; doubles per attempt, with ±20 % jitter. */
  readonly reconnectMinDelayMs?: number;
  /** Reconnect delay cap. Default 30,000 ms. */
  readonly reconnectMaxDelayMs?: number;
  /** Deliveries of one message whose handler rejected before it is dropped (logged). Default 5. */
  readonly maxDeliveryAttempts?: number;
  /** How long `close()` waits for running handlers and outstanding confirms. Default 5,000 ms. */
  readonly closeTimeoutMs?: number;
}

/** `sendToNodes`/`publish` rejected because too many publishes already wait for RabbitMQ. */
export class PublishBufferFullError extends Error {
  override readonly name = 'PublishBufferFullError';
  constructor(readonly limit: number) {
    super(`RabbitMQ publish buffer is full (${limit} messages waiting); message not accepted`);
  }
}

/** The broker was closed before the message was confirmed: it was not accepted. */
export class BrokerClosedError extends Error {
  override readonly name = 'BrokerClosedError';
  constructor(what = 'RabbitBroker is closed') {
    super(what);
  }
}

/** One publish on its way: buffered, or sent and waiting for its confirm. */
interface Outgoing {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
  /** The channel it was last sent on; confirms from any other channel are stale. */
  channel: ConfirmChannel | undefined;
  /** A `basic.return` came back for it: no queue was bound to its routing key. */
  returned: boolean;
  /** Times it was sent; a message that keeps killing the channel is given up on. */
  sends: number;
  settled: boolean;
  resolve(returned: boolean): void;
  reject(err: Error): void;
}

/** Sending the same message this many times without a confirm (each time losing the channel) rejects it. */
const MAX_SENDS = 3;
/** A TCP connect that hangs (black-holed host) counts as a failed attempt after this. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Bounds the per-message attempt counters of failing handlers. */
const MAX_TRACKED_FAILURES = 10_000;

/**
 * `Broker` on RabbitMQ (SPEC §5, §8); maps the interface to the wire and nothing more.
 *
 * - One connection; a confirm channel publishes, a second channel declares topology and consumes
 *   the node queue (manual ack, `prefetch`). Names: rabbit-topology.ts.
 * - Wire: AMQP `messageId` = id, content = the binary envelope of relay-envelope.ts (every other
 *   field, then the body); messages are persistent.
 * - Handlers run one at a time per origin node (so per-sender order holds at the handler), in
 *   parallel across origins. Ack after the handler resolved; on rejection, nack with requeue
 *   (after a short pause) up to `maxDeliveryAttempts`, then drop with an error log.
 * - Connection loss: reconnect with capped, jittered exponential backoff; re-declare, re-bind,
 *   re-consume. Publishes made meanwhile, and sent ones never confirmed, wait in a bounded buffer
 *   and go out in order after reconnect (so a message may arrive twice: ids allow dedup).
 */
export class RabbitBroker implements Broker {
  readonly nodeId: NodeId;
  private readonly url: string;
  private readonly topology: RabbitTopology;
  private readonly queue: string;
  private readonly nodeExchange: string;
  private readonly prefetch: number;
  private readonly log: BrokerLog;
  private readonly queueExpiresMs: number;
  private readonly maxPending: number;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxDeliveryAttempts: number;
  private readonly closeTimeoutMs: number;

  private onMessage: MessageHandler | undefined;
  private startPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  private closing = false;
  /** Set once the first connection of this instance was set up (later ones are reconnects). */
  private connectedOnce = false;
  private connecting: Promise<void> | undefined;

  private conn: ChannelModel | undefined;
  private pubCh: ConfirmChannel | undefined;
  private subCh: Channel | undefined;
  private subAcks: AckBatcher<ConsumeMessage> | undefined;
  private consumerTag: string | undefined;
  private ready = false;
  /** RabbitMQ blocked publishing (memory or disk alarm): not ready, though connected. */
  private serverBlocked = false;
  /** `publish` returned false: wait for `drain` before sending more. */
  private blocked = false;

  /** Waiting to be sent, oldest first; `pendingHead` is the index of the oldest. */
  private pending: Outgoing[] = [];
  private pendingHead = 0;
  /** Sent and not yet confirmed, in send order. */
  private readonly inflight = new Set<Outgoing>();
  /** Mandatory publishes awaiting confirm, by routing key and message id, to match a `basic.return`. */
  private readonly returnable = new Map<string, Outgoing[]>();

  /** Broadcast binding key → the bound destinations that need it (two patterns may share a key). */
  private readonly bindings = new Map<string, Set<Destination>>();
  /** Keys unbound while the channel was down: unbound on the server at reconnect. */
  private readonly staleKeys = new Set<string>();
  /** Serialises bind/unbind so "resolved" means the server has the binding. */
  private topologyChain: Promise<void> = Promise.resolve();
  private readyWaiters: { resolve(): void; reject(err: Error): void }[] = [];

  /** Last handler promise per origin node: the next message from that origin runs after it. */
  private readonly chains = new Map<NodeId, Promise<void>>();
  private readonly failures = new Map<string, number>();
  private wakeSleep: (() => void) | undefined;

  /** Throws synchronously for an invalid node id or name prefix. Connects only in `start`. */
  constructor(options: RabbitBrokerOptions) {
    assertNodeId(options.nodeId);
    this.nodeId = options.nodeId;
    this.topology = new RabbitTopology(options.namePrefix);
    this.queue = this.topology.nodeQueue(options.nodeId);
    this.nodeExchange = this.topology.nodeBroadcastExchange(options.nodeId);
    this.url = withHeartbeat(options.url);
    this.prefetch = options.prefetch ?? 256;
    this.log = options.log ?? NO_LOG;
    this.queueExpiresMs = options.nodeQueueExpiresMs ?? DEFAULT_NODE_QUEUE_EXPIRES_MS;
    this.maxPending = options.maxPendingPublishes ?? 10_000;
    this.minDelayMs = options.reconnectMinDelayMs ?? 100;
    this.maxDelayMs = options.reconnectMaxDelayMs ?? 30_000;
    this.maxDeliveryAttempts = options.maxDeliveryAttempts ?? 5;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
  }

  /**
   * Connects, retrying with backoff (each failure logged at warn, never thrown) until RabbitMQ is
   * reachable; declares the topology; removes broadcast bindings left by an earlier run of this
   * node id; consumes the node queue. Resolves once consuming; rejects only if `close()` is
   * called first. A second call returns the first call's promise.
   */
  start(onMessage: MessageHandler): Promise<void> {
    if (this.closing) return Promise.reject(new BrokerClosedError());
    this.startPromise ??= ((): Promise<void> => {
      this.onMessage = onMessage;
      return this.connectUntilReady();
    })();
    return this.startPromise;
  }

  /**
   * One persistent, mandatory publish per distinct node to the relay exchange. Resolves when
   * RabbitMQ confirmed all of them; rejects with `UnroutableError` naming the nodes whose queue
   * is gone (returned by RabbitMQ, or an id that cannot name a queue) once the others were
   * confirmed; rejects with another error when a publish was not accepted (nack, buffer full,
   * closed). While disconnected the publishes wait in the buffer.
   */
  async sendToNodes(nodes: readonly NodeId[], msg: RelayMessage): Promise<void> {
    const targets = [...new Set(nodes)];
    const unroutable = targets.filter((n) => !isValidNodeId(n));
    const routable = targets.filter((n) => isValidNodeId(n));
    if (routable.length > 0) {
      const content = encodeEnvelope(msg);
      const options = publishOptions(msg, true);
      const results = await Promise.allSettled(
        routable.map((n) => this.enqueue(this.topology.relayExchange, this.topology.nodeRoutingKey(n), content, options)),
      );
      let failure: unknown;
      results.forEach((r, i) => {
        if (r.status === 'rejected') failure ??= r.reason;
        else if (r.value) unroutable.push(routable[i] as NodeId);
      });
      if (failure !== undefined) throw failure;
    }
    if (unroutable.length > 0) throw new UnroutableError(unroutable);
  }

  /**
   * One persistent publish to the broadcast exchange with the destination's routing key.
   * Resolves when RabbitMQ confirmed it (also when no node bound a matching destination: then
   * nobody needed it).
   */
  async publish(msg: RelayMessage): Promise<void> {
    await this.enqueue(this.topology.broadcastExchange, broadcastRoutingKey(msg.destination), encodeEnvelope(msg), publishOptions(msg, false));
  }

  /**
   * Adds the binding keys of `destination` (rabbit-topology.ts `broadcastBindingKeys`) to this
   * node, reference-counted per key. Resolves once the server has them; while disconnected, once
   * reconnected. Idempotent per destination. Rejects only when the broker closes first.
   */
  async bind(destination: Destination): Promise<void> {
    if (this.closing) throw new BrokerClosedError();
    const added: string[] = [];
    for (const key of broadcastBindingKeys(destination)) {
      let holders = this.bindings.get(key);
      if (!holders) {
        holders = new Set();
        this.bindings.set(key, holders);
      }
      if (holders.size === 0) added.push(key);
      holders.add(destination);
      this.staleKeys.delete(key);
    }
    await this.topologyOp(async () => {
      for (;;) {
        const ch = this.ready ? this.subCh : undefined;
        if (ch) {
          try {
            // Skip keys that an unbind, queued after this bind, already released.
            for (const key of added) if (this.bindings.has(key)) await ch.bindExchange(this.nodeExchange, this.topology.broadcastExchange, key);
            return;
          } catch (err) {
            this.log.debug({ err: errorMessage(err), destination }, 'bind interrupted, waiting for reconnect');
          }
        }
        // Reconnecting binds every key in `bindings`, but a key added while it ran may have been
        // missed: go round and bind explicitly (binding twice is harmless).
        await this.whenReady();
      }
    });
  }

  /**
   * Releases the binding keys of `destination` that no other bound destination needs. Resolves
   * once the server dropped them, or, when the connection is down as its turn comes, once they
   * are noted to be dropped at reconnect (until then the node filters). Idempotent.
   */
  async unbind(destination: Destination): Promise<void> {
    const removed: string[] = [];
    for (const key of broadcastBindingKeys(destination)) {
      const holders = this.bindings.get(key);
      if (!holders?.delete(destination)) continue;
      if (holders.size === 0) {
        this.bindings.delete(key);
        removed.push(key);
      }
    }
    if (removed.length === 0) return;
    await this.topologyOp(async () => {
      for (const key of removed) {
        if (this.bindings.has(key)) continue; // bound again since
        const ch = this.ready ? this.subCh : undefined;
        try {
          if (!ch) throw new Error('not connected');
          await ch.unbindExchange(this.nodeExchange, this.topology.broadcastExchange, key);
        } catch {
          this.staleKeys.add(key);
        }
      }
    });
  }

  /**
   * Takes over what is left in `nodeId`'s queue: first the queue loses its bindings, so nothing new
   * is routed into it (mandatory publishes to that node now come back unroutable), then every
   * message in it is handed to `onMessage` and acked after that resolved, then the empty queue is
   * deleted. For this node's own id (graceful drain) consuming stops first. Resolves with how many
   * messages were handed over; 0 when the queue does not exist. If `onMessage` rejects, the
   * message goes back to the queue and the promise rejects.
   */
  async adoptQueue(nodeId: NodeId, onMessage: MessageHandler): Promise<number> {
    if (!isValidNodeId(nodeId)) return 0;
    await this.whenReady();
    const conn = this.conn;
    if (!conn) return 0;
    if (nodeId === this.nodeId) await this.stopConsuming();
    const t = this.topology;
    const queue = t.nodeQueue(nodeId);
    const ch = await conn.createChannel();
    ch.on('error', () => undefined); // a missing queue closes this channel; nothing else uses it
    let handed = 0;
    try {
      try {
        await ch.checkQueue(queue);
      } catch {
        return 0;
      }
      await ch.unbindQueue(queue, t.relayExchange, t.nodeRoutingKey(nodeId));
      await ch.deleteExchange(t.nodeBroadcastExchange(nodeId));
      for (;;) {
        const raw = await ch.get(queue, { noAck: false });
        if (raw === false) break;
        let msg: RelayMessage;
        try {
          msg = decode(raw);
        } catch (err) {
          this.log.error({ err: errorMessage(err), queue }, 'dropping undecodable message from an adopted queue');
          ch.nack(raw, false, false);
          continue;
        }
        try {
          await onMessage(msg);
        } catch (err) {
          ch.nack(raw, false, true);
          throw err;
        }
        ch.ack(raw);
        handed++;
      }
      await ch.deleteQueue(queue, { ifEmpty: true });
      this.log.info({ queue, messages: handed }, 'adopted a node queue');
      return handed;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /** Cancels this node's consumer and waits for running handlers (drain). */
  private async stopConsuming(): Promise<void> {
    const { subCh, consumerTag } = this;
    this.consumerTag = undefined;
    if (subCh && consumerTag) await subCh.cancel(consumerTag).catch(() => undefined);
    await this.within(Promise.all([...this.chains.values()]));
    this.subAcks?.flush(true);
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
        const delayMs = this.backoff(attempt);
        // SPEC §8: say so in the log, retry; the message, not a stack trace.
        this.log.warn({ err: errorMessage(err), attempt, delayMs, host: safeHost(this.url) }, 'RabbitMQ not reachable, retrying');
        await this.sleep(delayMs);
      } finally {
        this.connecting = undefined;
      }
    }
    throw new BrokerClosedError('RabbitBroker closed before it connected');
  }

  private async connectOnce(): Promise<void> {
    const conn = await connect(this.url, {
      timeout: CONNECT_TIMEOUT_MS,
      // amqplib writes a frame over ~2 KiB in two chunks; with Nagle on, the second waits for
      // the peer's delayed ACK (~40 ms per 4 KiB message, measured by the bench).
      noDelay: true,
      clientProperties: { connection_name: `stomp-relay ${this.nodeId}` },
    });
    // A close during setup fires before `this.conn` is set, so `lost` ignores it: remember it here.
    let closedDuringSetup = false;
    const onClose = (reason: string) => (): void => {
      closedDuringSetup = true;
      this.lost(conn, reason);
    };
    try {
      conn.on('error', (err: Error) => this.log.warn({ err: errorMessage(err) }, 'RabbitMQ connection error'));
      conn.on('close', onClose('connection closed'));
      conn.on('blocked', (reason: string) => {
        this.serverBlocked = true;
        this.log.warn({ reason }, 'RabbitMQ blocked publishing (resource alarm)');
      });
      conn.on('unblocked', () => {
        this.serverBlocked = false;
        this.log.info({}, 'RabbitMQ unblocked publishing');
      });

      const pub = await conn.createConfirmChannel();
      // Prepended: amqplib's own close listener fails the unconfirmed callbacks with "channel
      // closed"; `lost` must move them back to the buffer first, so they are republished.
      pub.prependListener('close', onClose('publish channel closed'));
      pub.on('error', (err: Error) => this.log.warn({ err: errorMessage(err) }, 'RabbitMQ publish channel error'));
      pub.on('return', (m: Message) => this.onReturn(m));
      pub.on('drain', () => {
        this.blocked = false;
        this.flush();
      });

      const sub = await conn.createChannel();
      sub.on('close', onClose('consumer channel closed'));
      sub.on('error', (err: Error) => this.log.warn({ err: errorMessage(err) }, 'RabbitMQ consumer channel error'));

      await this.declare(sub);
      await sub.prefetch(this.prefetch);
      // At most a quarter of the prefetch window waits behind a slow handler (see AckBatcher).
      const acks = new AckBatcher<ConsumeMessage>(
        { ack: (m, allUpTo) => safely(() => sub.ack(m, allUpTo)) }, // a closed channel: RabbitMQ redelivers
        Math.max(1, Math.floor(this.prefetch / 4)),
      );
      const { consumerTag } = await sub.consume(this.queue, (m) => this.onDelivery(conn, sub, acks, m), { noAck: false });

      if (this.closing) throw new BrokerClosedError();
      if (closedDuringSetup) throw new Error('connection closed during setup');
      this.conn = conn;
      this.pubCh = pub;
      this.subCh = sub;
      this.subAcks = acks;
      this.consumerTag = consumerTag;
      this.blocked = false;
      this.ready = true;
      this.log.info({ node: this.nodeId, queue: this.queue, reconnect: this.connectedOnce }, 'RabbitMQ connected');
      this.connectedOnce = true;
      for (const w of this.readyWaiters.splice(0)) w.resolve();
      this.flush();
    } catch (err) {
      await conn.close().catch(() => undefined);
      throw err;
    }
  }

  /** Declares everything this node uses and restores its broadcast bindings. */
  private async declare(ch: Channel): Promise<void> {
    const t = this.topology;
    await ch.assertExchange(t.relayExchange, RELAY_EXCHANGE_TYPE, DURABLE_EXCHANGE);
    await ch.assertExchange(t.broadcastExchange, BROADCAST_EXCHANGE_TYPE, DURABLE_EXCHANGE);
    await ch.assertQueue(this.queue, nodeQueueOptions(this.queueExpiresMs));
    await ch.bindQueue(this.queue, t.relayExchange, t.nodeRoutingKey(this.nodeId));
    if (!this.connectedOnce) {
      // A new run of this node id: its previous run's broadcast bindings are unknown to us, and
      // SPEC §5 wants no traffic for destinations nobody here subscribes to. Deleting the
      // per-node exchange drops them all; the queue and its messages stay.
      await ch.deleteExchange(this.nodeExchange);
    }
    await ch.assertExchange(this.nodeExchange, NODE_BROADCAST_EXCHANGE_TYPE, NODE_BROADCAST_EXCHANGE);
    await ch.bindQueue(this.queue, this.nodeExchange, '');
    for (const key of this.bindings.keys()) await ch.bindExchange(this.nodeExchange, t.broadcastExchange, key);
    for (const key of this.staleKeys) await ch.unbindExchange(this.nodeExchange, t.broadcastExchange, key);
    this.staleKeys.clear();
  }

  /** The connection or one of its channels went away: park everything and reconnect. */
  private lost(conn: ChannelModel, reason: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.pubCh = undefined;
    this.subCh = undefined;
    this.subAcks = undefined;
    this.consumerTag = undefined;
    this.ready = false;
    this.blocked = false;
    this.serverBlocked = false;
    // Sent but unconfirmed: not accepted yet, so they go out again, ahead of newer ones (order).
    const again: Outgoing[] = [];
    for (const o of this.inflight) {
      o.channel = undefined;
      o.returned = false;
      if (o.sends >= MAX_SENDS) this.settle(o, new Error(`RabbitMQ closed the channel ${o.sends} times before confirming this message`));
      else again.push(o);
    }
    this.inflight.clear();
    this.returnable.clear();
    this.pending = again.concat(this.pending.slice(this.pendingHead));
    this.pendingHead = 0;
    // A channel can die alone (a channel error); the connection then has to go too.
    conn.close().catch(() => undefined);
    if (this.closing) return;
    this.log.warn({ reason, waiting: this.pending.length }, 'RabbitMQ connection lost, reconnecting');
    this.connectUntilReady().catch(() => undefined);
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.wakeSleep?.();
    for (const w of this.readyWaiters.splice(0)) w.reject(new BrokerClosedError());
    await this.connecting?.catch(() => undefined);
    const { conn, subCh, pubCh, consumerTag } = this;
    if (subCh && consumerTag) await subCh.cancel(consumerTag).catch(() => undefined);
    await this.within(Promise.all([...this.chains.values()]));
    this.subAcks?.flush(true);
    if (pubCh && this.inflight.size > 0) await this.within(pubCh.waitForConfirms().catch(() => undefined));
    this.ready = false;
    this.conn = undefined;
    this.pubCh = undefined;
    this.subCh = undefined;
    this.subAcks = undefined;
    for (const o of this.pending.slice(this.pendingHead)) this.settle(o, new BrokerClosedError('RabbitBroker closed before the message was published'));
    this.pending = [];
    this.pendingHead = 0;
    for (const o of this.inflight) this.settle(o, new BrokerClosedError('RabbitBroker closed before RabbitMQ confirmed the message'));
    this.inflight.clear();
    await conn?.close().catch(() => undefined);
    this.log.info({ node: this.nodeId }, 'RabbitMQ broker closed');
  }

  // ---- publishing -----------------------------------------------------------------------------

  /** Resolves with whether RabbitMQ returned the message (mandatory and no queue), once confirmed. */
  private enqueue(exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<boolean> {
    if (this.closing) return Promise.reject(new BrokerClosedError());
    if (this.inflight.size + this.pending.length - this.pendingHead >= this.maxPending) {
      return Promise.reject(new PublishBufferFullError(this.maxPending));
    }
    return new Promise<boolean>((resolve, reject) => {
      const o: Outgoing = { exchange, routingKey, content, options, channel: undefined, returned: false, sends: 0, settled: false, resolve, reject };
      if (!(this.ready && !this.blocked && this.pendingHead === this.pending.length && this.send(o))) this.pending.push(o);
    });
  }

  private flush(): void {
    while (this.ready && !this.blocked && this.pendingHead < this.pending.length) {
      const o = this.pending[this.pendingHead] as Outgoing;
      this.pendingHead++;
      if (!o.settled && !this.send(o)) {
        this.pendingHead--;
        break;
      }
    }
    if (this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  /** Publishes on the confirm channel; false when the channel turned out to be closed: the caller keeps `o` first in line. */
  private send(o: Outgoing): boolean {
    const ch = this.pubCh as ConfirmChannel;
    const key = o.options.mandatory ? returnKey(o.routingKey, o.options.messageId) : undefined;
    o.channel = ch;
    o.sends++;
    this.inflight.add(o);
    if (key !== undefined) {
      const list = this.returnable.get(key);
      if (list) list.push(o);
      else this.returnable.set(key, [o]);
    }
    try {
      const ok = ch.publish(o.exchange, o.routingKey, o.content, o.options, (err: unknown) => this.onConfirm(ch, o, err));
      if (!ok) this.blocked = true;
      return true;
    } catch (err) {
      this.inflight.delete(o);
      if (key !== undefined) this.forgetReturnable(key, o);
      o.channel = undefined;
      o.sends--;
      if (ch !== this.pubCh || !this.ready) return false;
      // Not a closed channel: the message itself cannot be encoded (e.g. headers over 64 KiB).
      this.settle(o, new Error(`RabbitMQ publish failed: ${errorMessage(err)}`, { cause: err }));
      return true;
    }
  }

  private onConfirm(ch: ConfirmChannel, o: Outgoing, err: unknown): void {
    // Stale: `lost` already moved it back to the buffer, or it was settled at close.
    if (o.channel !== ch || !this.inflight.has(o)) return;
    this.inflight.delete(o);
    if (o.options.mandatory) this.forgetReturnable(returnKey(o.routingKey, o.options.messageId), o);
    if (err) this.settle(o, new Error('RabbitMQ did not accept the message (nack)', { cause: err }));
    else this.settle(o, undefined);
    if (this.pendingHead < this.pending.length) this.flush();
  }

  /** RabbitMQ sends `basic.return` before the confirm of the same message; mark the oldest match. */
  private onReturn(m: Message): void {
    const key = returnKey(m.fields.routingKey, asString(m.properties.messageId));
    const o = this.returnable.get(key)?.find((x) => !x.returned);
    if (o) o.returned = true;
  }

  private forgetReturnable(key: string, o: Outgoing): void {
    const list = this.returnable.get(key);
    if (!list) return;
    const i = list.indexOf(o);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.returnable.delete(key);
  }

  private settle(o: Outgoing, err: Error | undefined): void {
    if (o.settled) return;
    o.settled = true;
    if (err) o.reject(err);
    else o.resolve(o.returned);
  }

  // ---- consuming ------------------------------------------------------------------------------

  private onDelivery(conn: ChannelModel, ch: Channel, acks: AckBatcher<ConsumeMessage>, raw: ConsumeMessage | null): void {
    if (raw === null) {
      // The server cancelled the consumer (queue deleted): reconnecting re-declares it.
      this.log.warn({ queue: this.queue }, 'RabbitMQ cancelled the consumer');
      this.lost(conn, 'consumer cancelled');
      return;
    }
    const entry = acks.delivered(raw);
    let msg: RelayMessage;
    try {
      msg = decode(raw);
    } catch (err) {
      this.log.error({ err: errorMessage(err), messageId: raw.properties.messageId as unknown }, 'dropping undecodable message');
      acks.settled(entry);
      safely(() => ch.nack(raw, false, false));
      return;
    }
    const origin = msg.origin;
    const prev = this.chains.get(origin);
    // Nothing of this origin is running: handle it now, and when that finished synchronously
    // (delivered to local sessions), no promise is made at all.
    const next = prev === undefined ? this.handle(ch, acks, entry, raw, msg) : prev.then(() => this.handle(ch, acks, entry, raw, msg));
    if (next === undefined) return;
    this.chains.set(origin, next);
    void next.then(() => {
      if (this.chains.get(origin) === next) this.chains.delete(origin);
    });
  }

  /** Runs the handler; returns undefined when it finished synchronously. Never rejects. */
  private handle(ch: Channel, acks: AckBatcher<ConsumeMessage>, entry: AckHandle<ConsumeMessage>, raw: ConsumeMessage, msg: RelayMessage): Promise<void> | undefined {
    let result: Promise<void> | void;
    try {
      if (!this.onMessage) throw new Error('no handler');
      result = this.onMessage(msg);
    } catch (err) {
      return this.failed(ch, acks, entry, raw, msg, err);
    }
    if (result === undefined) {
      this.handled(acks, entry, msg);
      return undefined;
    }
    return result.then(
      () => this.handled(acks, entry, msg),
      (err: unknown) => this.failed(ch, acks, entry, raw, msg, err),
    );
  }

  private handled(acks: AckBatcher<ConsumeMessage>, entry: AckHandle<ConsumeMessage>, msg: RelayMessage): void {
    if (this.failures.size > 0) this.failures.delete(msg.id);
    // The channel may be gone (reconnected) by the time the batch goes: then RabbitMQ redelivers it, at least once.
    acks.done(entry);
  }

  private async failed(ch: Channel, acks: AckBatcher<ConsumeMessage>, entry: AckHandle<ConsumeMessage>, raw: ConsumeMessage, msg: RelayMessage, err: unknown): Promise<void> {
    const attempts = (this.failures.get(msg.id) ?? 0) + 1;
    if (attempts >= this.maxDeliveryAttempts) {
      this.failures.delete(msg.id);
      this.log.error({ err: errorMessage(err), messageId: msg.id, destination: msg.destination, attempts }, 'handler keeps failing, dropping message');
      acks.settled(entry);
      safely(() => ch.nack(raw, false, false));
      return;
    }
    this.failures.delete(msg.id); // re-insert: Map order is age order for the eviction below
    this.failures.set(msg.id, attempts);
    if (this.failures.size > MAX_TRACKED_FAILURES) {
      const oldest = this.failures.keys().next();
      if (!oldest.done) this.failures.delete(oldest.value);
    }
    this.log.warn({ err: errorMessage(err), messageId: msg.id, attempts }, 'handler failed, requeueing message');
    // A pause, so a transient failure (Redis hiccup) is not retried in a tight loop.
    if (!this.closing) await this.sleepUnref(Math.min(1000, 50 * 2 ** attempts));
    acks.settled(entry);
    safely(() => ch.nack(raw, false, true));
  }

  // ---- helpers --------------------------------------------------------------------------------

  private topologyOp(op: () => Promise<void>): Promise<void> {
    const run = this.topologyChain.then(op);
    this.topologyChain = run.catch(() => undefined);
    return run;
  }

  private whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.closing) return Promise.reject(new BrokerClosedError());
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** Math.min(attempt - 1, 30));
    return Math.min(this.maxDelayMs, Math.round(base * (0.8 + 0.4 * Math.random())));
  }

  /** A reconnect pause that `close()` cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeSleep === done) this.wakeSleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeSleep = done;
    });
  }

  private sleepUnref(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
  }

  /** Waits for `p`, at most `closeTimeoutMs`. */
  private async within(p: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([p, new Promise((resolve) => (timer = setTimeout(resolve, this.closeTimeoutMs)))]);
    clearTimeout(timer);
  }
}

function publishOptions(msg: RelayMessage, mandatory: boolean): Options.Publish {
  return { messageId: msg.id, persistent: true, mandatory };
}

function decode(raw: Message): RelayMessage {
  const id = asString(raw.properties.messageId);
  if (!id) throw new Error('not a relay message (no message id)');
  return decodeEnvelope(id, raw.content);
}

function returnKey(routingKey: string, messageId: unknown): string {
  return `${routingKey}\n${asString(messageId) ?? ''}`;
}

function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function safely(f: () => void): void {
  try {
    f();
  } catch {
    // The channel closed: RabbitMQ requeues whatever was not acked.
  }
}

function withHeartbeat(url: string): string {
  const u = new URL(url);
  // Notice a dead peer within ~20 s rather than the server's default of 60 s per beat.
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', '10');
  return u.toString();
}

function safeHost(url: string): string {
  return new URL(url).host;
}
