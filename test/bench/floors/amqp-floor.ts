/**
 * Floor: raw amqplib publish → consume, in the bench process (publisher and consumer are both
 * clients, one clock): a publisher connection with a confirm channel sends persistent mandatory
 * messages through a durable direct exchange to a durable queue that a second connection
 * consumes with manual ack and prefetch 256 — RabbitMQ used as the product uses it, nothing else.
 */
import amqp, { type ChannelModel, type ConfirmChannel, type Channel, type ConsumeMessage } from 'amqplib';
import { readStamp, stampedBody, type Pipe, type Recorder } from '../load.js';

export class AmqpFloorPipe implements Pipe {
  recorder: Recorder | undefined;
  size = 100;
  private readonly errors: string[] = [];
  private readonly stamp = { seq: 0, ts: 0 };

  private constructor(
    private readonly pubConn: ChannelModel,
    private readonly subConn: ChannelModel,
    private readonly pub: ConfirmChannel,
    private readonly sub: Channel,
    private readonly exchange: string,
    private readonly queue: string,
  ) {}

  static async open(amqpUrl: string, prefix: string): Promise<AmqpFloorPipe> {
    const exchange = `${prefix}raw`;
    const queue = `${prefix}raw.q`;
    // TCP_NODELAY as in relay-floor.ts: the floor is the best RabbitMQ can do.
    const pubConn = await amqp.connect(amqpUrl, { noDelay: true });
    const subConn = await amqp.connect(amqpUrl, { noDelay: true });
    const pub = await pubConn.createConfirmChannel();
    const sub = await subConn.createChannel();
    await pub.assertExchange(exchange, 'direct', { durable: true, autoDelete: false });
    await sub.assertQueue(queue, {
      durable: true,
      exclusive: false,
      autoDelete: false,
      arguments: { 'x-expires': 600_000 },
    });
    await sub.bindQueue(queue, exchange, 'raw');
    await sub.prefetch(256);
    const pipe = new AmqpFloorPipe(pubConn, subConn, pub, sub, exchange, queue);
    await sub.consume(
      queue,
      (m: ConsumeMessage | null) => {
        if (!m) return;
        if (readStamp(m.content, 0, pipe.stamp)) pipe.recorder?.record(pipe.stamp.seq, pipe.stamp.ts);
        sub.ack(m);
      },
      { noAck: false },
    );
    return pipe;
  }

  send(seq: number): void {
    this.pub.publish(
      this.exchange,
      'raw',
      stampedBody(seq, this.size),
      { persistent: true, mandatory: true },
      (err: Error | null) => {
        if (err) this.errors.push(`nack: ${err.message}`);
      },
    );
  }

  problems(): string[] {
    return this.errors;
  }

  async close(): Promise<void> {
    try {
      await this.sub.deleteQueue(this.queue);
      await this.pub.deleteExchange(this.exchange);
    } catch {
      // cleaned up with the connection anyway (x-expires)
    }
    await this.pubConn.close().catch(() => undefined);
    await this.subConn.close().catch(() => undefined);
  }
}
