import { expect } from 'chai';
import { FrameDecoder, StompProtocolError } from '../../protocol/index.js';
import type { Command, DecodeEvent, DecoderLimits, HeaderList, StompVersion } from '../../protocol/index.js';

/** A decode event as plain data, so chai compares it by value (the body as hex). */
export type PlainEvent =
  { kind: 'heartbeat' } | { kind: 'frame'; command: Command; headers: Array<[string, string]>; body: string };

export interface Outcome {
  events: PlainEvent[];
  error?: { code: string; message: string };
}

export interface DecodeOptions {
  limits?: Partial<DecoderLimits>;
  version?: StompVersion;
}

export const HEARTBEAT: PlainEvent = { kind: 'heartbeat' };

export function frame(command: Command, headers: HeaderList = [], body: string | Buffer = ''): PlainEvent {
  return {
    kind: 'frame',
    command,
    headers: headers.map(([n, v]) => [n, v]),
    body: (typeof body === 'string' ? Buffer.from(body) : body).toString('hex'),
  };
}

export function plain(event: DecodeEvent): PlainEvent {
  return event.kind === 'heartbeat' ? HEARTBEAT : frame(event.frame.command, event.frame.headers, event.frame.body);
}

export function bytes(input: string | Buffer): Buffer {
  return typeof input === 'string' ? Buffer.from(input) : input;
}

/**
 * Feeds `pieces` to a fresh decoder. Collects the events returned before an error; anything thrown
 * that is not a StompProtocolError is rethrown, so it fails the test.
 */
export function decodePieces(pieces: Iterable<Buffer>, options: DecodeOptions = {}): Outcome {
  const decoder = new FrameDecoder(options.limits);
  if (options.version) decoder.setVersion(options.version);
  const events: PlainEvent[] = [];
  for (const piece of pieces) {
    try {
      events.push(...decoder.push(piece).map(plain));
    } catch (err) {
      if (!(err instanceof StompProtocolError)) throw err;
      return { events, error: { code: err.code, message: err.message } };
    }
  }
  return { events };
}

/** The ways a fixture is fed: whole, byte by byte, and cut in two at every offset (ws "spanning multiple writes"). */
export function* cuts(input: Buffer): Generator<[label: string, pieces: Buffer[]]> {
  yield ['whole', [input]];
  yield ['byte by byte', Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1))];
  for (let at = 1; at < input.length; at++) yield [`cut at ${at}`, [input.subarray(0, at), input.subarray(at)]];
}

/**
 * Runs of heart-beats collapsed to one. The decoder emits one per run of EOLs *per push*, so the
 * count within a run depends on the chunking; whether a run was there does not.
 */
export function collapseHeartbeats(events: readonly PlainEvent[]): PlainEvent[] {
  return events.filter((e, i) => !(e.kind === 'heartbeat' && events[i - 1]?.kind === 'heartbeat'));
}

/** Asserts that every cut of `input` decodes, without error, to `expected`. */
export function expectDecodes(input: string | Buffer, expected: PlainEvent[], options: DecodeOptions = {}): void {
  for (const [label, pieces] of cuts(bytes(input))) {
    const outcome = decodePieces(pieces, options);
    expect(outcome.error, label).to.equal(undefined);
    expect(collapseHeartbeats(outcome.events), label).to.deep.equal(expected);
  }
}

/** Asserts that every cut of `input` fails with `code` (and `message`, if given), and returns that message. */
export function expectRejects(
  input: string | Buffer,
  code: string,
  message?: string | RegExp,
  options: DecodeOptions = {},
): string {
  let seen: string | undefined;
  for (const [label, pieces] of cuts(bytes(input))) {
    const { error } = decodePieces(pieces, options);
    expect(error?.code, label).to.equal(code);
    if (typeof message === 'string') expect(error?.message, label).to.equal(message);
    if (message instanceof RegExp) expect(error?.message, label).to.match(message);
    seen ??= error?.message;
    expect(error?.message, label).to.equal(seen);
  }
  return seen ?? '';
}
