/** Longest peer-supplied text quoted in an error message (in code points). */
export const MAX_QUOTED_CHARS = 64;

// C0/C1 controls, format characters (bidi overrides, zero-width) and line/paragraph separators:
// anything that could break or disguise a log line or an ERROR frame's `message`.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\0': '\\0' };

/**
 * Peer-supplied text made safe to quote in an error message: control characters are shown as escapes
 * and the text is cut after `max` code points (marked with '…'), so garbage never floods a message.
 */
export function printable(text: string, max: number = MAX_QUOTED_CHARS): string {
  let out = '';
  let count = 0;
  for (const ch of text) {
    if (count === max) return `${out}…`;
    count++;
    if (!UNPRINTABLE.test(ch)) {
      out += ch;
      continue;
    }
    const cp = ch.codePointAt(0) ?? 0;
    out += NAMED[ch] ?? (cp <= 0xff ? `\\x${hex(cp, 2)}` : `\\u${hex(cp, 4)}`);
  }
  return out;
}

function hex(n: number, width: number): string {
  return n.toString(16).toUpperCase().padStart(width, '0');
}
