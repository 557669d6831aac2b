import { expect } from 'chai';
import fc from 'fast-check';
import {
  decodeEnvelope,
  decodeRecords,
  encodeBatch,
  encodeEnvelope,
  encodePrefixedRecord,
  EnvelopeError,
} from '../../server/relay/relay-envelope.js';
import { withPosition, type RelayMessage, type RelayTarget } from '../../server/relay/relay-message.js';

// Up to 100 units: short ASCII strings are written byte by byte, the others by Buffer.write.
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ maxLength: 100 }));
const target: fc.Arbitrary<RelayTarget> = fc.oneof(
  fc.constant<RelayTarget>({ kind: 'broadcast' }),
  fc.record({ kind: fc.constant('user' as const), user: text }),
  fc.record({ kind: fc.constant('user' as const), user: text, sessionId: text }),
);
const message: fc.Arbitrary<RelayMessage> = fc
  .record({
    target,
    destination: text,
    headers: fc.array(fc.tuple(text, text), { maxLength: 6 }),
    body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    origin: text,
    sentAt: fc.integer({ min: 0, max: 2 ** 47 }),
    redelivered: fc.boolean(),
    rerouted: fc.boolean(),
    position: fc.option(fc.record({ epoch: text, offset: fc.integer({ min: 1, max: 2 ** 53 - 1 }) }), {
      nil: undefined,
    }),
  })
  .map(({ redelivered, rerouted, position, ...m }) => ({
    id: 'id-1',
    ...m,
    ...(redelivered ? { redelivered: true } : {}),
    ...(rerouted ? { rerouted: true } : {}),
    ...(position ? { position } : {}),
  }));

/** Lone surrogates cannot survive UTF-8; a string that is valid UTF-16 must come back as it was. */
function wellFormed(m: RelayMessage): boolean {
  const strings = [m.destination, m.origin, ...m.headers.flat()];
  if (m.target.kind === 'user') strings.push(m.target.user, m.target.sessionId ?? '');
  if (m.position) strings.push(m.position.epoch);
  return strings.every((s) => Buffer.from(s, 'utf8').toString('utf8') === s);
}

describe('relay envelope (the AMQP content of a relayed message)', () => {
  it('withPosition keeps every other field of the message', () => {
    fc.assert(
      fc.property(message, fc.record({ epoch: text, offset: fc.nat() }), (m, position) => {
        expect(withPosition(m, position)).to.deep.equal({ ...m, position });
      }),
      { numRuns: 300 },
    );
  });

  it('gives back every field of the message, for any message', () => {
    fc.assert(
      fc.property(message, (m) => {
        fc.pre(wellFormed(m));
        const back = decodeEnvelope(m.id, encodeEnvelope(m));
        expect({ ...back, body: Buffer.from(back.body) }).to.deep.equal(m);
      }),
      { numRuns: 500 },
    );
  });

  it('writes a prefixed record (a history entry) byte for byte as the prefix and a batch of one', () => {
    fc.assert(
      fc.property(message, fc.string({ unit: 'binary', maxLength: 20 }), fc.nat({ max: 2 ** 40 }), (m, id, at) => {
        const msg = { ...m, id };
        const expected = Buffer.concat([
          Buffer.from(`${at} `, 'latin1'),
          encodeBatch([{ id, envelope: encodeEnvelope(msg) }]),
        ]);
        expect(encodePrefixedRecord(`${at} `, msg).equals(expected)).to.equal(true);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a user target with and without a session id apart', () => {
    const base = { id: 'm', destination: '/queue/chat', headers: [], body: Buffer.from('hi'), origin: 'n1', sentAt: 1 };
    const a = decodeEnvelope('m', encodeEnvelope({ ...base, target: { kind: 'user', user: 'bob' } }));
    const b = decodeEnvelope('m', encodeEnvelope({ ...base, target: { kind: 'user', user: 'bob', sessionId: 's-1' } }));
    expect(a.target).to.deep.equal({ kind: 'user', user: 'bob' });
    expect(b.target).to.deep.equal({ kind: 'user', user: 'bob', sessionId: 's-1' });
  });

  it('refuses every truncation of a message with a clear error, never a wrong message', () => {
    const m: RelayMessage = {
      id: 'm',
      target: { kind: 'user', user: 'bob', sessionId: 's' },
      destination: '/queue/chat',
      headers: [['content-type', 'text/plain']],
      body: Buffer.alloc(0),
      origin: 'n1',
      sentAt: 5,
    };
    const whole = encodeEnvelope(m);
    for (let n = 0; n < whole.length; n++) {
      expect(() => decodeEnvelope('m', whole.subarray(0, n)), `first ${n} bytes`).to.throw(EnvelopeError);
    }
  });

  it('refuses an unknown version and a header count larger than the content', () => {
    const whole = encodeEnvelope({
      id: 'm',
      target: { kind: 'broadcast' },
      destination: '/topic/a',
      headers: [],
      body: Buffer.alloc(0),
      origin: 'n',
      sentAt: 0,
    });
    const v2 = Buffer.from(whole);
    v2[0] = 2;
    expect(() => decodeEnvelope('m', v2)).to.throw(EnvelopeError, /version 2/);
    const lying = Buffer.from(whole);
    lying.writeUInt32LE(0xffffffff, lying.length - 4);
    expect(() => decodeEnvelope('m', lying)).to.throw(EnvelopeError, /header count/);
    expect(() => decodeEnvelope('m', Buffer.from('{"json":true}'))).to.throw(EnvelopeError);
  });

  describe('batches (several messages for one node in one AMQP message)', () => {
    const one = (id: string, body: string): RelayMessage => ({
      id,
      target: { kind: 'user', user: 'bob' },
      destination: '/queue/chat',
      headers: [['x-n', id]],
      body: Buffer.from(body),
      origin: 'n1',
      sentAt: 7,
    });

    it('gives back every message of a batch, in order, with its own id', () => {
      fc.assert(
        fc.property(fc.array(message, { minLength: 1, maxLength: 8 }), (ms) => {
          fc.pre(ms.every(wellFormed));
          const withIds = ms.map((m, i) => ({ ...m, id: `m-${i}` }));
          const back = decodeRecords(
            undefined,
            encodeBatch(withIds.map((m) => ({ id: m.id, envelope: encodeEnvelope(m) }))),
          );
          expect(back.map((r) => ('msg' in r ? { ...r.msg, body: Buffer.from(r.msg.body) } : r.error))).to.deep.equal(
            withIds,
          );
        }),
        { numRuns: 200 },
      );
    });

    it('reads a single envelope as a batch of one, its id from the AMQP message id', () => {
      const back = decodeRecords('m-1', encodeEnvelope(one('ignored', 'hi')));
      expect(back).to.have.length(1);
      expect('msg' in back[0]! && back[0].msg.id).to.equal('m-1');
      expect(() => decodeRecords(undefined, encodeEnvelope(one('x', 'hi')))).to.throw(EnvelopeError, /no message id/);
    });

    it('drops a record that cannot be decoded alone, keeping its batch-mates', () => {
      const batch = encodeBatch([
        { id: 'a', envelope: encodeEnvelope(one('a', 'first')) },
        { id: 'poison', envelope: Buffer.from('not an envelope') },
        { id: 'c', envelope: encodeEnvelope(one('c', 'third')) },
      ]);
      const back = decodeRecords(undefined, batch);
      expect(back.map((r) => r.id)).to.deep.equal(['a', 'poison', 'c']);
      expect(back.map((r) => ('msg' in r ? r.msg.body.toString() : 'error'))).to.deep.equal([
        'first',
        'error',
        'third',
      ]);
      expect('error' in back[1]! && back[1].error).to.be.instanceOf(EnvelopeError);
    });

    it('refuses a batch whose framing is broken (truncated, lying count, trailing bytes)', () => {
      const whole = encodeBatch([
        { id: 'a', envelope: encodeEnvelope(one('a', 'x')) },
        { id: 'b', envelope: encodeEnvelope(one('b', 'y')) },
      ]);
      for (let n = 1; n < whole.length; n++) {
        expect(() => decodeRecords(undefined, whole.subarray(0, n)), `first ${n} bytes`).to.throw(EnvelopeError);
      }
      const lying = Buffer.from(whole);
      lying.writeUInt32LE(0xffffff, 1);
      expect(() => decodeRecords(undefined, lying)).to.throw(EnvelopeError, /record count/);
      expect(() => decodeRecords(undefined, Buffer.concat([whole, Buffer.from([0])]))).to.throw(
        EnvelopeError,
        /after its last record/,
      );
    });
  });
});
