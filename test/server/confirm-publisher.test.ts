import { expect } from 'chai';
import type { ConfirmChannel, Options } from 'amqplib';
import { ConfirmPublisher, PublishBufferFullError } from '../../server/broker/confirm-publisher.js';
import { RelayPressure } from '../../server/relay/relay-pressure.js';

/** A confirm channel that records publishes; the test confirms (ack) or nacks them by message id. */
function fakeChannel(): { ch: ConfirmChannel; sent: string[]; settle(id: string, nack?: boolean): void } {
  const callbacks = new Map<string, (err: unknown) => void>();
  const sent: string[] = [];
  const ch = {
    publish(
      _exchange: string,
      _key: string,
      _content: Buffer,
      options: Options.Publish,
      cb: (err: unknown) => void,
    ): boolean {
      const id = options.messageId as string;
      sent.push(id);
      callbacks.set(id, cb);
      return true;
    },
  } as unknown as ConfirmChannel;
  return { ch, sent, settle: (id, nack = false) => callbacks.get(id)?.(nack ? new Error('nack') : null) };
}

const publish = (p: ConfirmPublisher, id: string, node = 'node-2'): Promise<boolean> => {
  p.admit(1);
  return p.publish('relay', node, Buffer.from(id), { messageId: id, persistent: true }, 1);
};

describe('ConfirmPublisher', () => {
  it('sends a nacked publish again on the fresh channel it asks for, in publish order, instead of refusing it', async () => {
    let asked = 0;
    const p = new ConfirmPublisher(100, undefined, () => asked++);
    const first = fakeChannel();
    p.attach(first.ch);
    const a = publish(p, 'a');
    const b = publish(p, 'b');
    first.settle('a', true); // a quorum queue without a leader
    expect(asked).to.equal(1);
    const c = publish(p, 'c'); // nothing more goes out on the channel that nacked
    expect(first.sent).to.deep.equal(['a', 'b']);

    const fresh = fakeChannel();
    p.detach();
    p.attach(fresh.ch);
    expect(fresh.sent).to.deep.equal(['a', 'b', 'c']);
    for (const id of ['a', 'b', 'c']) fresh.settle(id);
    expect(await Promise.all([a, b, c])).to.deep.equal([false, false, false]);
    expect(p.load).to.equal(0);
  });

  it('holds only the routing key RabbitMQ nacked: publishes to other nodes go on meanwhile', async () => {
    const p = new ConfirmPublisher(100, undefined, () => undefined);
    const first = fakeChannel();
    p.attach(first.ch);
    const a = publish(p, 'a');
    first.settle('a', true); // node-2's queue has no leader
    const b = publish(p, 'b'); // node-2: waits behind a
    const c = publish(p, 'c', 'node-3');
    const d = publish(p, 'd', 'node-3');
    expect(first.sent).to.deep.equal(['a', 'c', 'd']);
    first.settle('c');
    first.settle('d');
    expect(await Promise.all([c, d])).to.deep.equal([false, false]);
    expect(p.waiting).to.equal(2);

    const fresh = fakeChannel();
    p.detach();
    p.attach(fresh.ch);
    expect(fresh.sent).to.deep.equal(['a', 'b']);
    for (const id of ['a', 'b']) fresh.settle(id);
    expect(await Promise.all([a, b])).to.deep.equal([false, false]);
    expect(p.load).to.equal(0);
  });

  it('refuses beyond its limit only while disconnected; connected, it tells the pressure gate instead', () => {
    const pressure = new RelayPressure(4, 2);
    const p = new ConfirmPublisher(4, pressure);
    for (let i = 0; i < 4; i++) p.admit(1);
    expect(() => p.admit(1)).to.throw(PublishBufferFullError);
    p.attach(fakeChannel().ch);
    expect(() => p.admit(1)).to.not.throw();
    expect(pressure.closed).to.equal(true);
  });
});
