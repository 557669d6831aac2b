import { expect } from 'chai';
import {
  StompErrorCode,
  StompProtocolError,
  commandEscapesHeaders,
  escapeHeader,
  unescapeHeader,
} from '../../protocol/index.js';
import type { StompVersion } from '../../protocol/index.js';

function badEscape(value: string, version: StompVersion): StompProtocolError {
  try {
    unescapeHeader(value, version);
  } catch (err) {
    if (err instanceof StompProtocolError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be rejected in ${version}`);
}

describe('header escaping', () => {
  describe('escapeHeader', () => {
    it('escapes backslash, colon, LF and CR in 1.2 (STOMP 1.2 "Value Encoding")', () => {
      expect(escapeHeader('a\\b:c\nd\re', '1.2')).to.equal('a\\\\b\\cc\\nd\\re');
    });

    it("writes Spring's ERROR message form", () => {
      expect(escapeHeader("Illegal header: 'x'", '1.2')).to.equal("Illegal header\\c 'x'");
    });

    it('escapes the same in 1.1, writing CR as \\r as Spring does since 1.1 has no escape for it', () => {
      expect(escapeHeader('a\\b:c\nd', '1.1')).to.equal('a\\\\b\\cc\\nd');
      expect(escapeHeader('x\ry', '1.1')).to.equal('x\\ry');
    });

    it('leaves 1.0 values verbatim except CR and LF, which could inject lines', () => {
      expect(escapeHeader('a\\b:c', '1.0')).to.equal('a\\b:c');
      expect(escapeHeader('a\nevil:1\r', '1.0')).to.equal('a\\nevil:1\\r');
    });

    it('returns the very same string when nothing needs escaping', () => {
      const value = '/queue/a-b_c.d é';
      for (const version of ['1.0', '1.1', '1.2'] as const) expect(escapeHeader(value, version)).to.equal(value);
      expect(escapeHeader('', '1.2')).to.equal('');
    });

    it('escapes consecutive and edge characters', () => {
      expect(escapeHeader('::', '1.2')).to.equal('\\c\\c');
      expect(escapeHeader('\\', '1.2')).to.equal('\\\\');
      expect(escapeHeader('\n\n', '1.2')).to.equal('\\n\\n');
    });
  });

  describe('unescapeHeader', () => {
    it('decodes \\r \\n \\c \\\\ in 1.2', () => {
      expect(unescapeHeader('a\\\\b\\cc\\nd\\re', '1.2')).to.equal('a\\b:c\nd\re');
    });

    it('decodes \\n \\c \\\\ in 1.1', () => {
      expect(unescapeHeader('a\\\\b\\cc\\nd', '1.1')).to.equal('a\\b:c\nd');
    });

    it('rejects \\r in 1.1', () => {
      const err = badEscape('a\\rb', '1.1');
      expect(err.code).to.equal(StompErrorCode.BAD_ESCAPE);
      expect(err.message).to.equal("Illegal escape sequence '\\r' in 'a\\rb' (STOMP 1.1)");
    });

    it('leaves 1.0 values alone, invalid escapes included', () => {
      expect(unescapeHeader('a\\cb\\t\\', '1.0')).to.equal('a\\cb\\t\\');
    });

    it('returns the very same string when there is no backslash', () => {
      expect(unescapeHeader('plain:value', '1.2')).to.equal('plain:value');
    });

    it('reads an escaped backslash before a letter as a backslash, in one pass', () => {
      expect(unescapeHeader('\\\\n', '1.2')).to.equal('\\n');
      expect(unescapeHeader('\\\\\\n', '1.2')).to.equal('\\\n');
    });

    it('rejects undefined escapes and a trailing backslash in 1.1 and 1.2', () => {
      for (const version of ['1.1', '1.2'] as const) {
        expect(badEscape('a\\tb', version).message).to.match(/^Illegal escape sequence '\\t' in 'a\\tb'/);
        expect(badEscape('\\C', version).code).to.equal(StompErrorCode.BAD_ESCAPE);
        expect(badEscape('ab\\', version).message).to.match(/^Illegal escape sequence '\\' at the end of 'ab\\'/);
      }
    });

    it('shows a control character after the backslash as an escape, never raw', () => {
      expect(badEscape('a\\\u0001', '1.2').message).to.equal(
        "Illegal escape sequence '\\\\x01' in 'a\\\\x01' (STOMP 1.2)",
      );
    });

    it('inverts escapeHeader', () => {
      const value = 'x:\\y\nz\r:\\\\n';
      expect(unescapeHeader(escapeHeader(value, '1.2'), '1.2')).to.equal(value);
      expect(unescapeHeader(escapeHeader('x:\\y\nz', '1.1'), '1.1')).to.equal('x:\\y\nz');
    });
  });

  describe('commandEscapesHeaders', () => {
    it('is false only for CONNECT, STOMP and CONNECTED', () => {
      expect(commandEscapesHeaders('CONNECT')).to.equal(false);
      expect(commandEscapesHeaders('STOMP')).to.equal(false);
      expect(commandEscapesHeaders('CONNECTED')).to.equal(false);
      for (const command of ['SEND', 'MESSAGE', 'ERROR', 'RECEIPT', 'SUBSCRIBE'] as const) {
        expect(commandEscapesHeaders(command)).to.equal(true);
      }
    });
  });
});
