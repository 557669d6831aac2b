import { expect } from 'chai';
import type { Options } from 'amqplib';
import { RelayBatcher, type BatchSink } from '../../server/broker/relay-batcher.js';
import { decodeRecords, encodeEnvelope } from '../../server/relay/relay-envelope.js';
import type { RelayMessage } from '../../server/relay/relay-message.js';

interface Published {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
  readonly records: number;
  confirm(returned?: boolean): void;
  fail(err: Error): void;
}

/** A sink that records what would go to RabbitMQ and lets the test confirm it; admits up to `room`. */
function sink(room = Infinity): BatchSink & { readonly published: Published[]; admitted: number } {
  const published: Published[] = [];
  const s = {
    published,
    admitted: 0,
    admit(records: number): void {
      if (s.admitted + records > room) throw new Error('buffer full');
      s.admitted += records;
    },
    publish(
      exchange: string,
      routingKey: string,
      content: Buffer,
      options: Options.Publish,
      records: number,
    ): Promise<boolean> {
      return new Promise<boolean>((resolve, reject) => {
        published.push({
          exchange,
          routingKey,
          content,
          options,
          records,
          confirm: (r = false) => resolve(r),
          fail: reject,
        });
      });
    },
  };
  return s;
}

/** The turn ends when the test says so. */
function manualTurn(): { schedule: (f: () => void) => void; end(): void } {
  let pending: (() => void) | undefined;
  return {
    schedule: (f) => (pending = f),
    end: () => {
      const f = pending;
      pending = undefined;
      f?.();
    },
  };
}

function msg(id: string, user = 'bob'): RelayMessage {
  return {
    id,
    target: { kind: 'user', user },
    destination: '/queue/chat',
    headers: [],
    body: Buffer.from(`body of ${id}`),
    origin: 'n1',
    sentAt: 1,
  };
}

function add(b: RelayBatcher, key: string, m: RelayMessage, mandatory = true): Promise<boolean> {
  return b.add('relay', key, mandatory, m.id, encodeEnvelope(m));
}

function ids(p: Published): string[] {
  return decodeRecords(p.options.messageId as string, p.content).map((r) => r.id);
}

describe('RelayBatcher (the batched node hop)', () => {
  it('sends what one turn added for one node as one AMQP message, and settles each message with its confirm', async () => {
    const s = sink();
    const turn = manualTurn();
    const b = new RelayBatcher(s, true, { maxRecords: 100, maxBytes: 1 << 20 }, turn.schedule);
    const settled: string[] = [];
    const all = ['a', 'b', 'c'].map((id) => add(b, 'node-2', msg(id)).then(() => settled.push(id)));
    const other = add(b, 'node-3', msg('d')).then(() => settled.push('d'));
    expect(s.published).to.have.length(0);
    turn.end();
    expect(s.published.map((p) => [p.routingKey, p.records])).to.deep.equal([
      ['node-2', 3],
      ['node-3', 1],
    ]);
    expect(ids(s.published[0]!)).to.deep.equal(['a', 'b', 'c']);
    expect(s.published[0]!.options).to.include({ persistent: true, mandatory: true });
    s.published[1]!.confirm();
    await other;
    expect(settled).to.deep.equal(['d']);
    s.published[0]!.confirm();
    await Promise.all(all);
    expect(settled).to.deep.equal(['d', 'a', 'b', 'c']);
  });

  it('lets what comes while a batch waits for its confirm grow into the next batch (group commit), sent at that confirm', async () => {
    const s = sink();
    const turn = manualTurn();
    const b = new RelayBatcher(s, true, { maxRecords: 100, maxBytes: 1 << 20 }, turn.schedule);
    void add(b, 'node-2', msg('a'));
    turn.end();
    expect(s.published.map(ids)).to.deep.equal([['a']]); // idle: at once
    void add(b, 'node-2', msg('b'));
    turn.end();
    void add(b, 'node-2', msg('c'));
    void add(b, 'node-3', msg('x'));
    turn.end();
    expect(s.published.map(ids)).to.deep.equal([['a'], ['x']]); // node-2 waits for its confirm, node-3 does not
    s.published[0]!.confirm();
    await Promise.resolve();
    await Promise.resolve();
    expect(s.published.map(ids)).to.deep.equal([['a'], ['x'], ['b', 'c']]);
  });

  it('sends a batch of one as a plain envelope under its own message id', () => {
    const s = sink();
    const turn = manualTurn();
    const b = new RelayBatcher(s, false, { maxRecords: 100, maxBytes: 1 << 20 }, turn.schedule);
    void add(b, 'node-2', msg('solo'), false);
    turn.end();
    const [p] = s.published;
    expect(p!.options).to.include({ messageId: 'solo', persistent: false, mandatory: false });
    expect(p!.content[0]).to.equal(1);
  });

  it('closes a batch early at its record and byte bounds, keeping the order', async () => {
    const s = sink();
    const turn = manualTurn();
    const b = new RelayBatcher(s, true, { maxRecords: 2, maxBytes: 1 << 20 }, turn.schedule);
    for (const id of ['a', 'b', 'c', 'd', 'e']) void add(b, 'node-2', msg(id));
    expect(s.published.map(ids)).to.deep.equal([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    turn.end();
    s.published[0]!.confirm();
    await Promise.resolve();
    await Promise.resolve();
    expect(s.published.map(ids)).to.deep.equal([['a', 'b'], ['c', 'd'], ['e']]);

    const bytes = sink();
    const small = new RelayBatcher(bytes, true, { maxRecords: 100, maxBytes: 1 }, turn.schedule);
    void add(small, 'node-2', msg('big-1'));
    void add(small, 'node-2', msg('big-2'));
    expect(bytes.published.map(ids)).to.deep.equal([['big-1'], ['big-2']]);
  });

  it('tells every message of a returned batch that it was returned, and every one of a failed batch why', async () => {
    const s = sink();
    const turn = manualTurn();
    const b = new RelayBatcher(s, true, { maxRecords: 100, maxBytes: 1 << 20 }, turn.schedule);
    const returned = [add(b, 'gone', msg('a')), add(b, 'gone', msg('b'))];
    const failed = [add(b, 'node-2', msg('c')), add(b, 'node-2', msg('d'))].map((p) =>
      p.then(
        () => 'ok',
        (e: Error) => e.message,
      ),
    );
    turn.end();
    s.published[0]!.confirm(true);
    s.published[1]!.fail(new Error('nack'));
    expect(await Promise.all(returned)).to.deep.equal([true, true]);
    expect(await Promise.all(failed)).to.deep.equal(['nack', 'nack']);
  });

  it('refuses a message the buffer cannot admit, alone, while its batch-mates go', async () => {
    const s = sink(2);
    const turn = manualTurn();
    const b = new RelayBatcher(s, true, { maxRecords: 100, maxBytes: 1 << 20 }, turn.schedule);
    const results = ['a', 'b', 'c'].map((id) =>
      add(b, 'node-2', msg(id)).then(
        () => 'accepted',
        (e: Error) => e.message,
      ),
    );
    turn.end();
    expect(s.published.map(ids)).to.deep.equal([['a', 'b']]);
    s.published[0]!.confirm();
    expect(await Promise.all(results)).to.deep.equal(['accepted', 'accepted', 'buffer full']);
  });
});
