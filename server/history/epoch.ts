import { randomBytes } from 'node:crypto';

/** Width of an epoch's time part: base-36 epoch ms, zero-padded (enough until the year 5188). */
const TIME_CHARS = 9;

/**
 * A new epoch for a stream created at `nowMs`: its creation time (fixed-width base 36) and 6
 * random characters, e.g. `0lz3k9q2bx7Kp_Q`. Clients treat it as opaque; the server orders two
 * epochs of one stream by their time part (`compareEpochs`), so a copy of a message accepted
 * before the stream was reset can be told from one accepted after it.
 */
export function newEpoch(nowMs: number): string {
  return Math.max(0, Math.floor(nowMs)).toString(36).padStart(TIME_CHARS, '0') + randomChars();
}

/** Random bytes drawn 3 KiB at a time: every history append offers an epoch (used only by a new stream). */
let pool = Buffer.alloc(0);
let drawn = 0;

function randomChars(): string {
  if (drawn + 6 > pool.length) {
    pool = randomBytes(3072);
    drawn = 0;
  }
  drawn += 6;
  return pool.toString('base64url', drawn - 6, drawn).slice(0, 6);
}

/**
 * Negative when `a` is an older incarnation than `b`, positive when newer, 0 when the same. Two
 * epochs of one stream are made at least one history loss apart, so their time parts differ in
 * practice; equal time parts fall back to the text, an arbitrary but stable order.
 */
export function compareEpochs(a: string, b: string): number {
  if (a === b) return 0;
  const ta = a.slice(0, TIME_CHARS);
  const tb = b.slice(0, TIME_CHARS);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a < b ? -1 : 1;
}
