import { expect } from 'chai';
import type { Channel, ConsumeMessage } from 'amqplib';
import { AckBatcher } from '../../server/broker/ack-batcher.js';
import { NO_LOG, type BrokerLog } from '../../server/broker/amqp-util.js';
import { RelayConsumer } from '../../server/broker/relay-consumer.js';
import { encodeBatch, encodeEnvelope } from '../../server/relay/relay-envelope.js';
import type { RelayMessage } from '../../server/relay/relay-message.js';
import { waitFor } from '../helpers/wait.js';

function msg(id: string, user: string): RelayMessage {
  return {
    id,
    target: { kind: 'user', user },
    destination: '/queue/chat',
    headers: [],
    body: Buffer.from(id),
    origin: 'n1',
    sentAt: 1,
  };
}

/** A delivery as amqplib hands it over: a batch of `records` (raw bytes stand for an undecodable one). */
function delivery(tag: number, records: (RelayMessage | { id: string; raw: Buffer })[]): ConsumeMessage {
  const content = encodeBatch(
    records.map((r) => ('raw' in r ? { id: r.id, envelope: r.raw } : { id: r.id, envelope: encodeEnvelope(r) })),
  );
  return {
    content,
    fields: { deliveryTag: tag },
    properties: { messageId: `${records[0]!.id}+${records.length}` },
  } as unknown as ConsumeMessage;
}

/** What the consumer did to the channel: acks (by delivery tag) and nacks (tag, requeue). */
function channel(): { ch: Channel; acks: AckBatcher<ConsumeMessage>; acked: number[]; nacked: [number, boolean][] } {
  const acked: number[] = [];
  const nacked: [number, boolean][] = [];
  const ch = {
    nack: (m: ConsumeMessage, _all: boolean, requeue: boolean) => nacked.push([m.fields.deliveryTag, requeue]),
  } as unknown as Channel;
  const acks = new AckBatcher<ConsumeMessage>({ ack: (m) => acked.push(m.fields.deliveryTag) }, 10);
  return { ch, acks, acked, nacked };
}

function logLines(): BrokerLog & { lines: string[] } {
  const lines: string[] = [];
  return { ...NO_LOG, lines, warn: (_o, m) => lines.push(`warn ${m}`), error: (_o, m) => lines.push(`error ${m}`) };
}

describe('RelayConsumer (records of a batch settled one by one)', function () {
  this.timeout(10_000);

  it('hands on every record around a poison one and a failing one, in order, and acks the batch once all are settled', async () => {
    const handled: string[] = [];
    let flaky = 0;
    const log = logLines();
    const consumer = new RelayConsumer(
      async (m) => {
        if (m.target.kind === 'user' && m.target.user === 'poison') throw new Error('always fails');
        if (m.target.kind === 'user' && m.target.user === 'flaky' && flaky++ < 2) throw new Error('fails twice');
        handled.push(m.id);
      },
      { log, maxDeliveryAttempts: 3, closing: () => false },
    );
    const { ch, acks, acked, nacked } = channel();
    consumer.deliver(
      ch,
      acks,
      delivery(1, [
        msg('a', 'alice'),
        { id: 'garbage', raw: Buffer.from('not an envelope') },
        msg('p', 'poison'),
        msg('f', 'flaky'),
        msg('b', 'bob'),
      ]),
    );
    await waitFor(() => acked.length > 0, 'the ack of the batch');
    expect(handled).to.deep.equal(['a', 'f', 'b']);
    expect(acked).to.deep.equal([1]);
    expect(nacked).to.deep.equal([]);
    expect(log.lines).to.include('error dropping an undecodable record');
    expect(log.lines).to.include('error handler keeps failing, dropping message');
    expect(log.lines.filter((l) => l === 'warn handler failed, trying the message again')).to.have.length(4); // p twice, f twice
  });

  it('keeps the order of one origin across batches while a record waits for its retry', async () => {
    const handled: string[] = [];
    let failedOnce = false;
    const consumer = new RelayConsumer(
      async (m) => {
        if (m.id === 'a2' && !failedOnce) {
          failedOnce = true;
          throw new Error('once');
        }
        handled.push(m.id);
      },
      { log: NO_LOG, maxDeliveryAttempts: 5, closing: () => false },
    );
    const { ch, acks, acked } = channel();
    consumer.deliver(ch, acks, delivery(1, [msg('a1', 'u'), msg('a2', 'u')]));
    consumer.deliver(ch, acks, delivery(2, [msg('b1', 'u'), msg('b2', 'u')]));
    await waitFor(() => acked.includes(2), 'both batches acked');
    expect(handled).to.deep.equal(['a1', 'a2', 'b1', 'b2']);
  });

  it('gives a batch back to the queue when the broker closes while a record still fails', async () => {
    let closing = false;
    const consumer = new RelayConsumer(
      async (m) => {
        if (m.id === 'bad') {
          closing = true;
          throw new Error('fails while closing');
        }
      },
      { log: NO_LOG, maxDeliveryAttempts: 5, closing: () => closing },
    );
    const { ch, acks, acked, nacked } = channel();
    consumer.deliver(ch, acks, delivery(7, [msg('ok', 'u'), msg('bad', 'u')]));
    await consumer.idle();
    expect(nacked).to.deep.equal([[7, true]]);
    expect(acked).to.deep.equal([]);
  });
});
