import { expect } from 'chai';
import {
  DEFAULT_DECODER_LIMITS,
  FrameDecoder,
  StompErrorCode,
  StompProtocolError,
  header,
  isOnlyHeartbeats,
} from '../../protocol/index.js';
import type { DecodeEvent, Frame } from '../../protocol/index.js';
import { HEARTBEAT, decodePieces, expectDecodes, expectRejects, frame, plain } from './feed.js';

const SIMPLE = 'MESSAGE\ndestination:foo\nmessage-id:456\n\n\0';
const SIMPLE_FRAME = frame('MESSAGE', [
  ['destination', 'foo'],
  ['message-id', '456'],
]);

function onlyFrame(events: DecodeEvent[]): Frame {
  expect(events).to.have.length(1);
  const [event] = events;
  if (event?.kind !== 'frame') throw new Error('expected a frame');
  return event.frame;
}

/** Bytes 0..255, `times` times over (stompjs' binary fixture). */
function allByteValues(times: number): Buffer {
  return Buffer.from(Array.from({ length: 256 * times }, (_, i) => i % 256));
}

describe('FrameDecoder', () => {
  describe('frames (stompjs parser cases)', () => {
    it('decodes a simple frame', () => {
      expectDecodes(SIMPLE, [SIMPLE_FRAME]);
    });

    it("keeps ':' in a header value after the first one", () => {
      expectDecodes('MESSAGE\ndestination:foo:bar:baz\nmessage-id:456\n\n\0', [
        frame('MESSAGE', [
          ['destination', 'foo:bar:baz'],
          ['message-id', '456'],
        ]),
      ]);
    });

    it('keeps an empty header value', () => {
      expectDecodes('MESSAGE\ndestination:foo\nhdr:\nmessage-id:456\n\n\0', [
        frame('MESSAGE', [
          ['destination', 'foo'],
          ['hdr', ''],
          ['message-id', '456'],
        ]),
      ]);
    });

    it('decodes a frame without headers or body', () => {
      expectDecodes('MESSAGE\n\n\0', [frame('MESSAGE')]);
    });

    it('decodes a frame without headers but with a body', () => {
      expectDecodes('MESSAGE\n\nHello World\0', [frame('MESSAGE', [], 'Hello World')]);
    });

    it('decodes several frames from one chunk, in order', () => {
      const second = 'MESSAGE\ndestination:bar\nmessage-id:203\n\nHello World\0';
      expectDecodes(SIMPLE + second, [
        SIMPLE_FRAME,
        frame(
          'MESSAGE',
          [
            ['destination', 'bar'],
            ['message-id', '203'],
          ],
          'Hello World',
        ),
      ]);
    });

    it('decodes a frame from chunks pushed one after the other', () => {
      const decoder = new FrameDecoder();
      expect(decoder.push(Buffer.from('MESSAGE\ndestination'))).to.deep.equal([]);
      expect(decoder.push(Buffer.from(':foo\nmessage-id:45'))).to.deep.equal([]);
      expect(decoder.push(Buffer.from('6\n\n\0')).map(plain)).to.deep.equal([SIMPLE_FRAME]);
    });

    it('waits for the trailing NUL before yielding the frame', () => {
      const decoder = new FrameDecoder();
      expect(decoder.push(Buffer.from('SEND\ncontent-length:2\n\nab'))).to.deep.equal([]);
      expect(decoder.bufferedBytes).to.be.greaterThan(0);
      expect(decoder.push(Buffer.from([0])).map(plain)).to.deep.equal([frame('SEND', [['content-length', '2']], 'ab')]);
      expect(decoder.bufferedBytes).to.equal(0);
    });

    it('accepts CRLF and LF line endings, mixed', () => {
      expectDecodes('MESSAGE\r\ndestination:bar\r\nmessage-id:203\n\r\nHello World\0', [
        frame(
          'MESSAGE',
          [
            ['destination', 'bar'],
            ['message-id', '203'],
          ],
          'Hello World',
        ),
      ]);
    });

    it('accepts every command, case-sensitively', () => {
      const commands = [
        'CONNECT',
        'STOMP',
        'SEND',
        'SUBSCRIBE',
        'UNSUBSCRIBE',
        'ACK',
        'NACK',
        'BEGIN',
        'COMMIT',
        'ABORT',
        'DISCONNECT',
        'CONNECTED',
        'MESSAGE',
        'RECEIPT',
        'ERROR',
      ] as const;
      expectDecodes(
        commands.map((c) => `${c}\n\n\0`).join(''),
        commands.map((c) => frame(c)),
      );
    });

    it('trims neither header names nor values', () => {
      expectDecodes('SEND\ndestination: /x\n name :value \n\n\0', [
        frame('SEND', [
          ['destination', ' /x'],
          [' name ', 'value '],
        ]),
      ]);
    });

    it('keeps repeated headers in order; header() returns the first', () => {
      const decoder = new FrameDecoder();
      const decoded = onlyFrame(decoder.push(Buffer.from('MESSAGE\nfoo:World\nfoo:Hello\n\n\0')));
      expect(decoded.headers).to.deep.equal([
        ['foo', 'World'],
        ['foo', 'Hello'],
      ]);
      expect(header(decoded, 'foo')).to.equal('World');
      expect(header(decoded, 'bar')).to.equal(undefined);
    });

    it('decodes header names and values as UTF-8, even when a character is split across chunks', () => {
      expectDecodes('SEND\ndestination:/queue/café-🚀\nnöm:ü\n\n\0', [
        frame('SEND', [
          ['destination', '/queue/café-🚀'],
          ['nöm', 'ü'],
        ]),
      ]);
    });
  });

  describe('heart-beats', () => {
    it('yields one heart-beat for a push of "\\n" or "\\r\\n"', () => {
      expect(new FrameDecoder().push(Buffer.from('\n'))).to.deep.equal([{ kind: 'heartbeat' }]);
      expect(new FrameDecoder().push(Buffer.from('\r\n'))).to.deep.equal([{ kind: 'heartbeat' }]);
    });

    it('yields one heart-beat for a run of EOLs in one push', () => {
      expect(new FrameDecoder().push(Buffer.from('\n\r\n\n\r\n'))).to.deep.equal([{ kind: 'heartbeat' }]);
    });

    it('yields nothing for an empty push', () => {
      expect(new FrameDecoder().push(Buffer.alloc(0))).to.deep.equal([]);
    });

    it('completes a CRLF heart-beat split across pushes', () => {
      const decoder = new FrameDecoder();
      expect(decoder.push(Buffer.from('\r'))).to.deep.equal([]);
      expect(decoder.push(Buffer.from('\n'))).to.deep.equal([{ kind: 'heartbeat' }]);
    });

    it('counts pings between frames as stompjs does', () => {
      const decoder = new FrameDecoder();
      const events = [
        ...decoder.push(Buffer.from('\n')),
        ...decoder.push(Buffer.from(SIMPLE)),
        ...decoder.push(Buffer.from('\n')),
        ...decoder.push(Buffer.from('\n')),
      ].map(plain);
      expect(events).to.deep.equal([HEARTBEAT, SIMPLE_FRAME, HEARTBEAT, HEARTBEAT]);
    });

    it('treats EOLs before a command and after a NUL as heart-beats', () => {
      expectDecodes(`\r\n${SIMPLE}\n\n${SIMPLE}\r\n`, [HEARTBEAT, SIMPLE_FRAME, HEARTBEAT, SIMPLE_FRAME, HEARTBEAT]);
    });

    it('yields a heart-beat after each frame of a push that has EOLs after each', () => {
      const events = new FrameDecoder().push(Buffer.from(`${SIMPLE}\n${SIMPLE}\n`)).map(plain);
      expect(events).to.deep.equal([SIMPLE_FRAME, HEARTBEAT, SIMPLE_FRAME, HEARTBEAT]);
    });
  });

  describe('bodies', () => {
    it('reads a body up to the first NUL without content-length', () => {
      expectDecodes('SEND\ndestination:/a\n\nhello\0SEND\n\nworld\0', [
        frame('SEND', [['destination', '/a']], 'hello'),
        frame('SEND', [], 'world'),
      ]);
    });

    it('reads exactly content-length bytes, NULs included', () => {
      expectDecodes('SEND\ncontent-length:5\n\na\0b\0c\0', [frame('SEND', [['content-length', '5']], 'a\0b\0c')]);
    });

    it('reads an empty body with content-length 0', () => {
      expectDecodes('SEND\ncontent-length:0\n\n\0', [frame('SEND', [['content-length', '0']])]);
    });

    it('accepts leading zeros in content-length', () => {
      expectDecodes('SEND\ncontent-length:003\n\nabc\0', [frame('SEND', [['content-length', '003']], 'abc')]);
    });

    it('uses the first content-length when it is repeated', () => {
      expectDecodes('SEND\ncontent-length:3\ncontent-length:1\n\na\0c\0', [
        frame(
          'SEND',
          [
            ['content-length', '3'],
            ['content-length', '1'],
          ],
          'a\0c',
        ),
      ]);
    });

    it('keeps every byte value of a binary body (stompjs binary fixture)', () => {
      const body = allByteValues(4);
      const head = 'SEND\ndestination:foo\nmessage-id:456\ncontent-length:1024\n\n';
      const input = Buffer.concat([Buffer.from(head), body, Buffer.from([0])]);
      const expected = frame(
        'SEND',
        [
          ['destination', 'foo'],
          ['message-id', '456'],
          ['content-length', '1024'],
        ],
        body,
      );
      expectDecodes(input, [expected]);
      expectDecodes(Buffer.concat([input, Buffer.from('\n'), input]), [expected, HEARTBEAT, expected]);
    });

    it('hands out the body of a frame contained in one chunk without copying it', () => {
      const chunk = Buffer.from('SEND\ncontent-length:3\n\nabc\0');
      const { body } = onlyFrame(new FrameDecoder().push(chunk));
      expect(body.buffer).to.equal(chunk.buffer);
      expect(body.byteOffset).to.equal(chunk.byteOffset + chunk.length - 4);
    });

    it('gives a split frame a body of its own', () => {
      const decoder = new FrameDecoder();
      const first = Buffer.from('SEND\n\nab');
      decoder.push(first);
      const { body } = onlyFrame(decoder.push(Buffer.from('c\0')));
      first.fill(0);
      expect(body.toString()).to.equal('abc');
    });
  });

  describe('escaping', () => {
    it('unescapes \\r \\n \\c \\\\ in names and values in 1.2', () => {
      expectDecodes('MESSAGE\nna\\cme:a\\r\\nb\\c\\\\c\n\n\0', [frame('MESSAGE', [['na:me', 'a\r\nb:\\c']])], {
        version: '1.2',
      });
    });

    it('unescapes \\n \\c \\\\ in 1.1', () => {
      expectDecodes('MESSAGE\nna\\cme:a\\nb\\c\\\\c\n\n\0', [frame('MESSAGE', [['na:me', 'a\nb:\\c']])], {
        version: '1.1',
      });
    });

    it('rejects \\r in 1.1, where it is not an escape', () => {
      expectRejects('SEND\na:b\\rc\n\n\0', StompErrorCode.BAD_ESCAPE, /Illegal escape sequence '\\r'/, {
        version: '1.1',
      });
    });

    it('leaves backslashes alone in 1.0', () => {
      expectDecodes('SEND\na\\cb:c\\d\\\n\n\0', [frame('SEND', [['a\\cb', 'c\\d\\']])], { version: '1.0' });
    });

    it('never unescapes CONNECT, STOMP or CONNECTED headers', () => {
      for (const command of ['CONNECT', 'STOMP', 'CONNECTED'] as const) {
        expectDecodes(`${command}\nlogin:a\\cb\npasscode:x\\ty\\\n\n\0`, [
          frame(command, [
            ['login', 'a\\cb'],
            ['passcode', 'x\\ty\\'],
          ]),
        ]);
      }
    });

    it('applies a new version to the frames after it', () => {
      const decoder = new FrameDecoder();
      const input = Buffer.from('SEND\na:b\\cc\n\n\0');
      decoder.setVersion('1.0');
      expect(onlyFrame(decoder.push(input)).headers).to.deep.equal([['a', 'b\\cc']]);
      decoder.setVersion('1.2');
      expect(onlyFrame(decoder.push(input)).headers).to.deep.equal([['a', 'b:c']]);
    });

    it('rejects an unknown escape and a trailing backslash', () => {
      expectRejects('SEND\na:b\\tc\n\n\0', StompErrorCode.BAD_ESCAPE, /^Illegal escape sequence '\\t'/);
      expectRejects('SEND\na\\:b\n\n\0', StompErrorCode.BAD_ESCAPE, /^Illegal escape sequence '\\' at the end/);
    });
  });

  describe('errors (Spring decoder cases)', () => {
    it("rejects a CR not followed by LF with Spring's message", () => {
      const message = "'\\r' must be followed by '\\n'";
      expectRejects('SEND\rX\n\n\0', StompErrorCode.BAD_EOL, message);
      expectRejects('SEND\na:b\rc\n\n\0', StompErrorCode.BAD_EOL, message);
      expectRejects('SEND\na:b\r\r\n\n\0', StompErrorCode.BAD_EOL, message);
      expectRejects('\rSEND\n\n\0', StompErrorCode.BAD_EOL, message);
      expectRejects('SEND\n\n\0\r\r\n', StompErrorCode.BAD_EOL, message);
    });

    it('rejects an unknown or wrongly cased command, naming it', () => {
      expectRejects('FOO\n\n\0', StompErrorCode.UNKNOWN_COMMAND, "Unknown command 'FOO'");
      expectRejects('send\n\n\0', StompErrorCode.UNKNOWN_COMMAND, "Unknown command 'send'");
      expectRejects('SEND \n\n\0', StompErrorCode.UNKNOWN_COMMAND, "Unknown command 'SEND '");
      expectRejects(
        'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
        StompErrorCode.UNKNOWN_COMMAND,
        "Unknown command 'GET / HTTP/1.1'",
      );
    });

    it('never echoes control characters and cuts long garbage in messages', () => {
      const message = expectRejects('\x01\x7fA\tB\0\u202e\n', StompErrorCode.UNKNOWN_COMMAND);
      expect(message).to.equal("Unknown command '\\x01\\x7FA\\tB\\0\\u202E'");
      const long = expectRejects(`${'X'.repeat(200)}\n`, StompErrorCode.UNKNOWN_COMMAND);
      expect(long).to.equal(`Unknown command '${'X'.repeat(64)}…'`);
    });

    it('tells a chunk of heart-beat EOLs only from one a decoder must see', () => {
      for (const text of ['\n', '\r\n', '\n\r\n\n']) expect(isOnlyHeartbeats(Buffer.from(text))).to.equal(true);
      for (const text of ['', '\r', '\n\r', '\r\r\n', 'S', '\nSEND'])
        expect(isOnlyHeartbeats(Buffer.from(text))).to.equal(false);
    });

    it('rejects a header line without a colon or with an empty name', () => {
      expectRejects(
        'SEND\nno-colon\n\n\0',
        StompErrorCode.BAD_HEADER,
        "Illegal header: 'no-colon'. A header must be of the form <name>:[<value>].",
      );
      expectRejects(
        'SEND\n:value\n\n\0',
        StompErrorCode.BAD_HEADER,
        "Illegal header: ':value'. A header must be of the form <name>:[<value>].",
      );
      // The next line's colon is not this line's.
      expectRejects(
        'SEND\nno-colon\nx:y\n\n\0',
        StompErrorCode.BAD_HEADER,
        "Illegal header: 'no-colon'. A header must be of the form <name>:[<value>].",
      );
      expectRejects('SEND\na\rb:c\n\n\0', StompErrorCode.BAD_EOL);
    });

    it('rejects a negative or non-numeric content-length', () => {
      for (const value of ['-1', 'abc', '', ' 5', '5 ', '1.5', '+5', '0x10', '1e3']) {
        expectRejects(
          `SEND\ncontent-length:${value}\n\nabc\0`,
          StompErrorCode.BAD_CONTENT_LENGTH,
          `Invalid content-length '${value}'`,
        );
      }
    });

    it('judges only the first content-length', () => {
      expectRejects('SEND\ncontent-length:x\ncontent-length:3\n\nabc\0', StompErrorCode.BAD_CONTENT_LENGTH);
    });

    it('requires a NUL right after a content-length body', () => {
      expectRejects(
        'SEND\ncontent-length:2\n\nabc\0',
        StompErrorCode.MISSING_NUL,
        'Frame must be terminated with a null octet',
      );
      expectRejects('SEND\ncontent-length:0\n\nx\0', StompErrorCode.MISSING_NUL);
    });

    it('throws StompProtocolError instances carrying the code', () => {
      const decoder = new FrameDecoder();
      expect(() => decoder.push(Buffer.from('FOO\n')))
        .to.throw(StompProtocolError)
        .with.property('code', StompErrorCode.UNKNOWN_COMMAND);
    });

    it('stays failed after an error until reset()', () => {
      const decoder = new FrameDecoder();
      let first: unknown;
      try {
        decoder.push(Buffer.from('SEND\nbad\n'));
      } catch (err) {
        first = err;
      }
      expect(first).to.be.instanceOf(StompProtocolError);
      expect(decoder.bufferedBytes).to.equal(0);
      expect(() => decoder.push(Buffer.from(SIMPLE)))
        .to.throw()
        .that.equals(first);
      decoder.reset();
      expect(decoder.push(Buffer.from(SIMPLE)).map(plain)).to.deep.equal([SIMPLE_FRAME]);
    });

    it('drops a half-received frame on reset()', () => {
      const decoder = new FrameDecoder();
      decoder.push(Buffer.from('SEND\ndestination:/a\n'));
      decoder.reset();
      expect(decoder.bufferedBytes).to.equal(0);
      expect(decoder.push(Buffer.from(SIMPLE)).map(plain)).to.deep.equal([SIMPLE_FRAME]);
    });
  });

  describe('limits', () => {
    it('has the documented defaults', () => {
      expect(DEFAULT_DECODER_LIMITS).to.deep.equal({ maxFrameBytes: 65536, maxHeaders: 64, maxHeaderLineBytes: 8192 });
    });

    it('refuses limits that would disable a check', () => {
      expect(() => new FrameDecoder({ maxFrameBytes: Number.NaN })).to.throw(RangeError);
      expect(() => new FrameDecoder({ maxHeaders: 0 })).to.throw(RangeError);
      expect(() => new FrameDecoder({ maxHeaderLineBytes: 1.5 })).to.throw(RangeError);
      expect(() => new FrameDecoder({ maxHeaders: undefined })).not.to.throw();
    });

    describe('maxFrameBytes', () => {
      const limits = { maxFrameBytes: 40 };
      const tooLarge = 'frame exceeds the size limit of 40 bytes';
      // "SEND\n" + "\n" = 6 bytes before the body; the NUL is not counted.
      const toNul = (bodyBytes: number): string => `SEND\n\n${'x'.repeat(bodyBytes)}\0`;

      it('passes a NUL-terminated frame at the limit and rejects one a byte over', () => {
        expectDecodes(toNul(34), [frame('SEND', [], 'x'.repeat(34))], { limits });
        expectRejects(toNul(35), StompErrorCode.FRAME_TOO_LARGE, tooLarge, { limits });
      });

      it('passes a content-length frame at the limit and rejects one a byte over', () => {
        // "SEND\n" + "content-length:NN\n" + "\n" = 24 bytes before the body.
        const sized = (n: number): string => `SEND\ncontent-length:${n}\n\n${'y'.repeat(n)}\0`;
        expectDecodes(sized(16), [frame('SEND', [['content-length', '16']], 'y'.repeat(16))], { limits });
        expectRejects(sized(17), StompErrorCode.FRAME_TOO_LARGE, tooLarge, { limits });
      });

      it('counts header bytes too', () => {
        const headerOnly = (valueBytes: number): string => `SEND\na:${'v'.repeat(valueBytes)}\n\n\0`;
        // 5 + (2 + v + 1) + 1 = 40 → v = 31.
        expectDecodes(headerOnly(31), [frame('SEND', [['a', 'v'.repeat(31)]])], { limits });
        expectRejects(headerOnly(32), StompErrorCode.FRAME_TOO_LARGE, tooLarge, { limits });
      });

      it('rejects a content-length over the limit before any body byte arrives', () => {
        const decoder = new FrameDecoder();
        expect(() => decoder.push(Buffer.from('SEND\ncontent-length:100000\n\n')))
          .to.throw(StompProtocolError, 'content-length 100000 exceeds the frame size limit of 65536 bytes')
          .with.property('code', StompErrorCode.FRAME_TOO_LARGE);
        expectRejects(
          `SEND\ncontent-length:${'9'.repeat(100)}\n\n`,
          StompErrorCode.FRAME_TOO_LARGE,
          `content-length ${'9'.repeat(64)}… exceeds the frame size limit of 65536 bytes`,
        );
      });

      it('rejects a content-length that fits alone but not with the headers, before the body arrives', () => {
        expectRejects('SEND\ncontent-length:39\n\n', StompErrorCode.FRAME_TOO_LARGE, tooLarge, { limits });
      });

      it('applies the default limit of 65536 bytes', () => {
        const frameOf = (total: number): Buffer => Buffer.from(`SEND\n\n${'z'.repeat(total - 6)}\0`);
        const atLimit = frameOf(65536);
        for (const pieces of [[atLimit], [atLimit.subarray(0, 30000), atLimit.subarray(30000)]]) {
          const { events, error } = decodePieces(pieces);
          expect(error).to.equal(undefined);
          expect(events).to.have.length(1);
        }
        expect(decodePieces([frameOf(65537)]).error?.code).to.equal(StompErrorCode.FRAME_TOO_LARGE);
      });

      it('never holds more than maxFrameBytes for an incomplete frame', () => {
        for (const input of [
          toNul(60),
          `SEND\ncontent-length:10\n\n${'b'.repeat(10)}\0`,
          `SEND\nh:${'v'.repeat(60)}\n`,
        ]) {
          const decoder = new FrameDecoder({ maxFrameBytes: 40, maxHeaderLineBytes: 100 });
          let peak = 0;
          try {
            for (const byte of Buffer.from(input)) {
              decoder.push(Buffer.from([byte]));
              peak = Math.max(peak, decoder.bufferedBytes);
            }
          } catch (err) {
            expect(err).to.be.instanceOf(StompProtocolError);
          }
          expect(peak).to.be.at.most(40);
        }
      });
    });

    describe('maxHeaders', () => {
      const limits = { maxHeaders: 3 };
      const withHeaders = (n: number): string =>
        `SEND\n${Array.from({ length: n }, (_, i) => `h${i}:v\n`).join('')}\n\0`;

      it('passes a frame with maxHeaders headers and rejects one with more', () => {
        expectDecodes(
          withHeaders(3),
          [
            frame('SEND', [
              ['h0', 'v'],
              ['h1', 'v'],
              ['h2', 'v'],
            ]),
          ],
          { limits },
        );
        expectRejects(withHeaders(4), StompErrorCode.TOO_MANY_HEADERS, 'frame has more than 3 headers', { limits });
      });

      it('names a bad EOL before too many headers, and too many headers before a malformed one', () => {
        expectRejects('SEND\na:1\nb:2\nc:3\nd:4\re\n\n\0', StompErrorCode.BAD_EOL, undefined, { limits });
        expectRejects('SEND\na:1\nb:2\nc:3\nno-colon\n\n\0', StompErrorCode.TOO_MANY_HEADERS, undefined, { limits });
      });

      it('counts repeated headers', () => {
        expectRejects('SEND\na:1\na:2\na:3\na:4\n\n\0', StompErrorCode.TOO_MANY_HEADERS, undefined, { limits });
      });
    });

    describe('maxHeaderLineBytes', () => {
      const limits = { maxHeaderLineBytes: 16 };
      const line = (bytes: number, eol = '\n'): string => `SEND\nh:${'v'.repeat(bytes - 2)}${eol}\n\0`;

      it('passes a header line at the limit and rejects one a byte over', () => {
        expectDecodes(line(16), [frame('SEND', [['h', 'v'.repeat(14)]])], { limits });
        expectRejects(line(17), StompErrorCode.HEADER_LINE_TOO_LONG, 'header line exceeds the size limit of 16 bytes', {
          limits,
        });
      });

      it('does not count the CR of a CRLF', () => {
        expectDecodes(line(16, '\r\n'), [frame('SEND', [['h', 'v'.repeat(14)]])], { limits });
        expectRejects(line(17, '\r\n'), StompErrorCode.HEADER_LINE_TOO_LONG, undefined, { limits });
      });

      it('applies to the command line', () => {
        expectDecodes('SEND\n\n\0', [frame('SEND')], { limits: { maxHeaderLineBytes: 4 } });
        expectRejects(
          'ABORT\n\n\0',
          StompErrorCode.HEADER_LINE_TOO_LONG,
          'command line exceeds the size limit of 4 bytes',
          {
            limits: { maxHeaderLineBytes: 4 },
          },
        );
      });

      it('rejects an endless line without waiting for its EOL', () => {
        const decoder = new FrameDecoder(limits);
        expect(() => decoder.push(Buffer.from(`SEND\nh:${'v'.repeat(1000)}`))).to.throw(StompProtocolError);
      });
    });
  });
});
