import { expect } from 'chai';
import fc from 'fast-check';
import {
  CLIENT_COMMANDS,
  SERVER_COMMANDS,
  commandEscapesHeaders,
  encodeFrame,
  encodeHead,
  encodeTail,
} from '../../protocol/index.js';
import type { DecoderLimits, Frame, StompVersion } from '../../protocol/index.js';
import { HEARTBEAT, collapseHeartbeats, decodePieces, frame } from './feed.js';
import type { Outcome, PlainEvent } from './feed.js';

const VERSIONS: readonly StompVersion[] = ['1.0', '1.1', '1.2'];
const COMMANDS = [...CLIENT_COMMANDS, ...SERVER_COMMANDS];

/** Characters a header may hold in `version` (or in a never-escaped frame), stressing escaping and framing. */
function headerUnits(version: StompVersion, escaped: boolean, name: boolean): fc.Arbitrary<string> {
  const ordinary = fc.oneof(
    fc.constantFrom('a', 'Z', '0', '-', ' ', '/', '\t', '\0', 'é', '🚀'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  );
  const special = ['\\'];
  if (!escaped || version === '1.0') {
    // No escaping: a name cannot hold ':', and nothing can hold CR or LF.
    if (!name) special.push(':');
  } else {
    special.push(':', '\n');
    if (version === '1.2') special.push('\r');
  }
  return fc.oneof(ordinary, fc.constantFrom(...special));
}

function headerText(version: StompVersion, escaped: boolean, name: boolean): fc.Arbitrary<string> {
  const unescaped = !escaped || version === '1.0';
  // Random graphemes may bring in what the version cannot carry.
  const forbidden = unescaped ? (name ? /[:\r\n]/ : /[\r\n]/) : version === '1.1' ? /\r/ : /(?!)/;
  return fc
    .string({ unit: headerUnits(version, escaped, name), minLength: name ? 1 : 0, maxLength: 10 })
    .filter((s) => s !== 'content-length' && !forbidden.test(s));
}

/** A frame that `version` can carry exactly: a body with NULs gets a content-length, one without may not. */
function frameArb(version: StompVersion): fc.Arbitrary<Frame> {
  return fc.constantFrom(...COMMANDS).chain((command) => {
    const escaped = commandEscapesHeaders(command);
    return fc
      .record({
        headers: fc.array(fc.tuple(headerText(version, escaped, true), headerText(version, escaped, false)), {
          maxLength: 6,
        }),
        body: fc.uint8Array({ maxLength: 120 }),
        withLength: fc.boolean(),
        lengthAt: fc.nat(),
      })
      .map(({ headers, body, withLength, lengthAt }): Frame => {
        if (!withLength) return { command, headers, body: Buffer.from(body.filter((b) => b !== 0)) };
        const bytes = Buffer.from(body);
        const all: Array<readonly [string, string]> = [...headers];
        all.splice(lengthAt % (all.length + 1), 0, ['content-length', String(bytes.length)]);
        return { command, headers: all, body: bytes };
      });
  });
}

const eols = fc.array(fc.constantFrom('\n', '\r\n'), { maxLength: 3 }).map((parts) => parts.join(''));

/** Several frames with heart-beat EOLs around them: the wire bytes and the events they stand for. */
function streamArb(version: StompVersion): fc.Arbitrary<{ wire: Buffer; expected: PlainEvent[] }> {
  return fc
    .tuple(fc.array(fc.tuple(eols, frameArb(version)), { minLength: 1, maxLength: 4 }), eols)
    .map(([items, tail]) => {
      const wire: Buffer[] = [];
      const expected: PlainEvent[] = [];
      for (const [before, f] of items) {
        if (before) expected.push(HEARTBEAT);
        expected.push(frame(f.command, f.headers, f.body));
        wire.push(Buffer.from(before), encodeFrame(f, version));
      }
      if (tail) expected.push(HEARTBEAT);
      wire.push(Buffer.from(tail));
      return { wire: Buffer.concat(wire), expected };
    });
}

/** `input` cut at the given positions (taken modulo its length). */
function cutAt(input: Buffer, positions: readonly number[]): Buffer[] {
  const at = [...new Set(positions.map((p) => p % (input.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const to of at) {
    pieces.push(input.subarray(from, to));
    from = to;
  }
  pieces.push(input.subarray(from));
  return pieces;
}

function byteByByte(input: Buffer): Buffer[] {
  return Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
}

function framesOf(outcome: Outcome): PlainEvent[] {
  return outcome.events.filter((e) => e.kind === 'frame');
}

const cuts = fc.array(fc.nat(), { maxLength: 8 });

describe('codec properties', () => {
  for (const version of VERSIONS) {
    it(`decodes what it encodes, for any frame ${version} can carry`, () => {
      fc.assert(
        fc.property(frameArb(version), (f) => {
          const { events, error } = decodePieces([encodeFrame(f, version)], { version });
          expect(error).to.equal(undefined);
          expect(events).to.deep.equal([frame(f.command, f.headers, f.body)]);
        }),
        { numRuns: 400 },
      );
    });

    it(`encodes a frame split into its first headers and a shared tail byte for byte as whole (${version})`, () => {
      fc.assert(
        fc.property(frameArb(version), fc.nat(), (f, at) => {
          const split = at % (f.headers.length + 1);
          // The tail is encoded with the frame's own rules, as a MESSAGE fan-out does.
          const rules = commandEscapesHeaders(f.command) ? version : '1.0';
          const tail = encodeTail(f.headers.slice(split), f.body, rules);
          const head = encodeHead(f.command, f.headers.slice(0, split), version);
          expect(Buffer.concat([head, tail]).equals(encodeFrame(f, version))).to.equal(true);
        }),
        { numRuns: 300 },
      );
    });

    it(`decodes a ${version} stream of frames and heart-beats the same however it is cut`, () => {
      fc.assert(
        fc.property(streamArb(version), cuts, ({ wire, expected }, positions) => {
          const { events, error } = decodePieces(cutAt(wire, positions), { version });
          expect(error).to.equal(undefined);
          expect(collapseHeartbeats(events)).to.deep.equal(expected);
        }),
        { numRuns: 300 },
      );
    });
  }

  // Small limits, so that they trip inside the generated frames, often several at once.
  const tight: fc.Arbitrary<DecoderLimits> = fc.record({
    maxFrameBytes: fc.integer({ min: 1, max: 200 }),
    maxHeaders: fc.integer({ min: 1, max: 6 }),
    maxHeaderLineBytes: fc.integer({ min: 1, max: 30 }),
  });

  it('never throws anything but StompProtocolError on random bytes', () => {
    const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 10, 13, 58, 92));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 300 }), cuts, fc.option(tight), (values, positions, limits) => {
        // decodePieces rethrows anything that is not a StompProtocolError.
        decodePieces(cutAt(Buffer.from(values), positions), { limits: limits ?? {} });
      }),
      { numRuns: 3000 },
    );
  });

  it('reaches the same frames and the same error however a damaged stream is cut', () => {
    const damage = fc.array(
      fc.record({
        at: fc.nat(),
        kind: fc.constantFrom('insert', 'replace', 'delete'),
        byte: fc.constantFrom(0, 10, 13, 58, 92, 65, 200),
      }),
      { minLength: 1, maxLength: 3 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...VERSIONS).chain((version) => fc.tuple(fc.constant(version), streamArb(version))),
        damage,
        cuts,
        tight,
        ([version, { wire }], edits, positions, limits) => {
          const bytes = [...wire];
          for (const { at, kind, byte } of edits) {
            const i = at % (bytes.length + 1);
            if (kind === 'insert') bytes.splice(i, 0, byte);
            else if (kind === 'replace' && i < bytes.length) bytes[i] = byte;
            else bytes.splice(i, 1);
          }
          const input = Buffer.from(bytes);
          const options = { version, limits };
          const reference = decodePieces(byteByByte(input), options);
          for (const pieces of [[input], cutAt(input, positions)]) {
            const outcome = decodePieces(pieces, options);
            expect(outcome.error).to.deep.equal(reference.error);
            if (reference.error) {
              const frames = framesOf(outcome);
              expect(frames).to.deep.equal(framesOf(reference).slice(0, frames.length));
            } else {
              expect(collapseHeartbeats(outcome.events)).to.deep.equal(collapseHeartbeats(reference.events));
            }
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});
