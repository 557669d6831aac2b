import type { Destination, NodeId, SessionId, UserId } from '../ids.js';
import type { RelayMessage, RelayTarget, Writable } from './relay-message.js';

/**
 * The AMQP content of a relayed message: a small binary head with every RelayMessage field but
 * the id (which travels as the AMQP `message-id`), then the body bytes. A binary head, not JSON in
 * an AMQP header table: encoding a table field by field cost more CPU than the rest of a publish.
 *
 *   u8 version (1) | u8 flags | f64 sentAt | str origin | str destination
 *   | [str user | [str sessionId]]   (user target; sessionId when flags say so)
 *   | [str epoch | f64 offset]        (a history position, when flags say so)
 *   | u32 header count | (str name, str value)… | body…
 *
 * `str` is a u32 byte length and UTF-8 bytes; numbers are little-endian.
 */
export const ENVELOPE_VERSION = 1;

/**
 * Several relay messages for one target in one AMQP message (the batched node hop):
 *
 *   u8 version (2) | u32 record count | (str id | u32 length | envelope of version 1)…
 *
 * Each record is framed on its own, so one record that cannot be decoded is dropped alone.
 */
export const BATCH_VERSION = 2;

const REDELIVERED = 1;
const REROUTED = 2;
const BROADCAST = 4;
const HAS_SESSION = 8;
const HAS_POSITION = 16;
const FIXED_BYTES = 1 + 1 + 8 + 4;

export class EnvelopeError extends Error {}

/** Encodes everything of `msg` but its id. */
export function encodeEnvelope(msg: RelayMessage): Buffer {
  return envelopeAfter(msg, 0);
}

/**
 * `prefix` (ASCII), then a batch of one record: `msg` with its id. One allocation and no copy of
 * the body but this one (the history's log entry, written once per message).
 */
export function encodePrefixedRecord(prefix: string, msg: RelayMessage): Buffer {
  const idBytes = Buffer.byteLength(msg.id);
  const head = prefix.length + 1 + 4 + 4 + idBytes + 4;
  const buf = envelopeAfter(msg, head);
  buf.write(prefix, 0, 'latin1');
  let at = prefix.length;
  buf[at] = BATCH_VERSION;
  buf.writeUInt32LE(1, at + 1);
  at = writeString(buf, at + 5, msg.id);
  buf.writeUInt32LE(buf.length - head, at);
  return buf;
}

/** `msg`'s envelope written `headroom` bytes into a buffer of its own; the caller fills the headroom. */
function envelopeAfter(msg: RelayMessage, headroom: number): Buffer {
  const { target, headers } = msg;
  // Room for the worst case (3 UTF-8 bytes per UTF-16 unit), so every string is written once.
  let room = FIXED_BYTES + 4 * 4 + maxUtf8(msg.origin) + maxUtf8(msg.destination) + msg.body.length;
  if (target.kind === 'user')
    room += maxUtf8(target.user) + (target.sessionId === undefined ? 0 : 4 + maxUtf8(target.sessionId));
  if (msg.position !== undefined) room += 4 + maxUtf8(msg.position.epoch) + 8;
  for (const h of headers) room += 8 + maxUtf8(h[0]) + maxUtf8(h[1]);
  const buf = Buffer.allocUnsafe(headroom + room);

  let flags = 0;
  if (msg.redelivered) flags |= REDELIVERED;
  if (msg.rerouted) flags |= REROUTED;
  if (target.kind === 'broadcast') flags |= BROADCAST;
  else if (target.sessionId !== undefined) flags |= HAS_SESSION;
  if (msg.position !== undefined) flags |= HAS_POSITION;
  buf[headroom] = ENVELOPE_VERSION;
  buf[headroom + 1] = flags;
  buf.writeDoubleLE(msg.sentAt, headroom + 2);
  let at = writeString(buf, headroom + 10, msg.origin);
  at = writeString(buf, at, msg.destination);
  if (target.kind === 'user') {
    at = writeString(buf, at, target.user);
    if (target.sessionId !== undefined) at = writeString(buf, at, target.sessionId);
  }
  if (msg.position !== undefined) {
    at = writeString(buf, at, msg.position.epoch);
    buf.writeDoubleLE(msg.position.offset, at);
    at += 8;
  }
  buf.writeUInt32LE(headers.length, at);
  at += 4;
  for (const h of headers) {
    at = writeString(buf, at, h[0]);
    at = writeString(buf, at, h[1]);
  }
  at += msg.body.copy(buf, at);
  return buf.subarray(0, at);
}

/** The message `id` carried; the body is a view into `content`. Throws EnvelopeError when malformed. */
export function decodeEnvelope(id: string, content: Buffer): RelayMessage {
  const reader = new Reader(content);
  const version = reader.u8();
  if (version !== ENVELOPE_VERSION) throw new EnvelopeError(`unknown relay envelope version ${version}`);
  const flags = reader.u8();
  const sentAt = reader.f64();
  const origin: NodeId = reader.string();
  const destination: Destination = reader.string();
  let target: RelayTarget;
  if (flags & BROADCAST) {
    target = { kind: 'broadcast' };
  } else {
    const user: UserId = reader.string();
    if (flags & HAS_SESSION) {
      const sessionId: SessionId = reader.string();
      target = { kind: 'user', user, sessionId };
    } else {
      target = { kind: 'user', user };
    }
  }
  const position = flags & HAS_POSITION ? { epoch: reader.string(), offset: reader.f64() } : undefined;
  const count = reader.u32();
  // Each header takes at least 8 bytes: a count past what is left is a lie, not an allocation.
  if (count * 8 > reader.left) throw new EnvelopeError('relay envelope header count exceeds its length');
  const headers = new Array<[string, string]>(count);
  for (let i = 0; i < count; i++) headers[i] = [reader.string(), reader.string()];
  // Built once and completed in place: spreading it again per optional field cost more than the rest of a decode.
  const msg: Writable<RelayMessage> = { id, target, destination, headers, body: reader.rest(), origin, sentAt };
  if (flags & REDELIVERED) msg.redelivered = true;
  if (flags & REROUTED) msg.rerouted = true;
  if (position !== undefined) msg.position = position;
  return msg;
}

/** One record of a decoded AMQP message: the message, or why it could not be decoded. */
export type EnvelopeRecord =
  { readonly id: string; readonly msg: RelayMessage } | { readonly id: string; readonly error: EnvelopeError };

/** `records` (ids and their version-1 envelopes) as one batch. */
export function encodeBatch(records: readonly { readonly id: string; readonly envelope: Buffer }[]): Buffer {
  let room = 1 + 4;
  for (const r of records) room += 8 + maxUtf8(r.id) + r.envelope.length;
  const buf = Buffer.allocUnsafe(room);
  buf[0] = BATCH_VERSION;
  buf.writeUInt32LE(records.length, 1);
  let at = 5;
  for (const r of records) {
    at = writeString(buf, at, r.id);
    buf.writeUInt32LE(r.envelope.length, at);
    at += 4 + r.envelope.copy(buf, at + 4);
  }
  return buf.subarray(0, at);
}

/**
 * The records of an AMQP message: one for a single envelope (its id is the AMQP message id), each
 * of a batch in order. A record that cannot be decoded comes back as an error; a batch whose
 * framing is broken throws EnvelopeError (nothing in it can be trusted).
 */
export function decodeRecords(messageId: string | undefined, content: Buffer): EnvelopeRecord[] {
  if (content[0] !== BATCH_VERSION) {
    if (!messageId) throw new EnvelopeError('not a relay message (no message id)');
    return [decodeRecord(messageId, content)];
  }
  const reader = new Reader(content);
  reader.u8();
  const count = reader.u32();
  // Each record takes at least 8 bytes of framing.
  if (count * 8 > reader.left) throw new EnvelopeError('relay batch record count exceeds its length');
  const records = new Array<EnvelopeRecord>(count);
  for (let i = 0; i < count; i++) {
    const id = reader.string();
    records[i] = decodeRecord(id, reader.bytes(reader.u32()));
  }
  if (reader.left !== 0) throw new EnvelopeError('relay batch has bytes after its last record');
  return records;
}

function decodeRecord(id: string, content: Buffer): EnvelopeRecord {
  try {
    return { id, msg: decodeEnvelope(id, content) };
  } catch (err) {
    return { id, error: err instanceof EnvelopeError ? err : new EnvelopeError(String(err)) };
  }
}

function maxUtf8(s: string): number {
  return 3 * s.length;
}

/** Strings up to this many UTF-16 units are tried as ASCII byte by byte first. */
const SHORT_STRING = 64;

/**
 * A u32le byte length and the UTF-8 bytes. Ids, node names, destinations and header names are
 * short ASCII: copied byte by byte they cost a third of `Buffer.write`, whose native call is most
 * of the price of a short string.
 */
function writeString(buf: Buffer, at: number, s: string): number {
  const start = at + 4;
  let n = -1;
  if (s.length <= SHORT_STRING) {
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      buf[start + i] = c;
    }
    if (i === s.length) n = i;
  }
  if (n < 0) n = buf.write(s, start, 'utf8');
  buf.writeUInt32LE(n, at);
  return start + n;
}

class Reader {
  private at = 0;

  constructor(private readonly buf: Buffer) {}

  get left(): number {
    return this.buf.length - this.at;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.at++] as number;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.at);
    this.at += 8;
    return v;
  }

  string(): string {
    const n = this.u32();
    this.need(n);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }

  rest(): Buffer {
    const body = this.buf.subarray(this.at);
    this.at = this.buf.length;
    return body;
  }

  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new EnvelopeError('relay envelope truncated');
  }
}
