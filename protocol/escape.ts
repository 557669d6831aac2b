import { StompErrorCode, StompProtocolError } from './errors.js';
import type { Command, StompVersion } from './frame.js';
import { printable } from './printable.js';

const BACKSLASH = 0x5c;
const LOWER_N = 0x6e;
const LOWER_C = 0x63;
const LOWER_R = 0x72;

// 1.0 has no escapes, but a raw CR or LF inside a header would end the line and let a value inject
// headers (or start the body), so those two are still written as `\r` / `\n`, as Spring does.
const NEEDS_ESCAPE_10 = /[\r\n]/;
const NEEDS_ESCAPE = /[\\:\r\n]/;

/**
 * A header name or value as it goes on the wire for `version` (STOMP 1.2 "Value Encoding").
 *
 * - 1.2: `\` → `\\`, `:` → `\c`, LF → `\n`, CR → `\r`.
 * - 1.1: the same. 1.1 has no escape for CR; a raw CR would break framing, so it is written as `\r`
 *   like Spring does for every version (a strict 1.1 peer may reject it; lenient ones show it as is).
 * - 1.0: verbatim, except CR and LF, which are written as `\r` / `\n` so a value cannot inject lines.
 *
 * Returns the input itself when nothing needs escaping.
 */
export function escapeHeader(value: string, version: StompVersion): string {
  const special = version === '1.0' ? NEEDS_ESCAPE_10 : NEEDS_ESCAPE;
  const first = value.search(special);
  if (first === -1) return value;
  let out = value.slice(0, first);
  let from = first;
  for (let i = first; i < value.length; i++) {
    const replacement = escapeOf(value.charCodeAt(i), version);
    if (replacement === undefined) continue;
    out += value.slice(from, i) + replacement;
    from = i + 1;
  }
  return out + value.slice(from);
}

function escapeOf(code: number, version: StompVersion): string | undefined {
  switch (code) {
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x3a:
      return version === '1.0' ? undefined : '\\c';
    case BACKSLASH:
      return version === '1.0' ? undefined : '\\\\';
    default:
      return undefined;
  }
}

/**
 * A header name or value as read from the wire, decoded for `version`, in one pass.
 *
 * - 1.2: `\r` `\n` `\c` `\\`.
 * - 1.1: `\n` `\c` `\\` (`\r` is not a 1.1 escape).
 * - 1.0: returned unchanged; a backslash is an ordinary character.
 *
 * Throws StompProtocolError(BAD_ESCAPE) for any other escape or a trailing backslash (STOMP 1.2:
 * "undefined escape sequences such as \t MUST be treated as a fatal protocol error").
 * Returns the input itself when it holds no backslash.
 */
export function unescapeHeader(value: string, version: StompVersion): string {
  if (version === '1.0') return value;
  let at = value.indexOf('\\');
  if (at === -1) return value;
  let out = '';
  let from = 0;
  while (at !== -1) {
    out += value.slice(from, at);
    out += unescapeOne(value, at, version);
    from = at + 2;
    at = value.indexOf('\\', from);
  }
  return out + value.slice(from);
}

function unescapeOne(value: string, at: number, version: StompVersion): string {
  switch (value.charCodeAt(at + 1)) {
    case LOWER_N:
      return '\n';
    case LOWER_C:
      return ':';
    case BACKSLASH:
      return '\\';
    case LOWER_R:
      if (version === '1.2') return '\r';
      break;
    default:
      break;
  }
  const next = value.codePointAt(at + 1);
  const where = next === undefined ? `'\\' at the end of` : `'\\${printable(String.fromCodePoint(next))}' in`;
  throw new StompProtocolError(
    StompErrorCode.BAD_ESCAPE,
    `Illegal escape sequence ${where} '${printable(value)}' (STOMP ${version})`,
  );
}

/** Whether `command`'s headers are escaped at all: CONNECT, STOMP and CONNECTED never are (STOMP 1.2 "Value Encoding"). */
export function commandEscapesHeaders(command: Command): boolean {
  return command !== 'CONNECT' && command !== 'STOMP' && command !== 'CONNECTED';
}
