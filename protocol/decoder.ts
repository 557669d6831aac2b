import { StompErrorCode, StompProtocolError } from './errors.js';
import { commandEscapesHeaders, unescapeHeader } from './escape.js';
import { CLIENT_COMMANDS, EMPTY_BODY, SERVER_COMMANDS } from './frame.js';
import type { Command, Frame, StompVersion } from './frame.js';
import { printable } from './printable.js';

/** What one push can yield: a frame, or a heart-beat (a run of EOLs between frames). */
export type DecodeEvent = { kind: 'frame'; frame: Frame } | { kind: 'heartbeat' };

/** Bounds on what one peer can make the decoder hold. Each overrun has its own error code. */
export interface DecoderLimits {
  /**
   * Largest frame: every byte from the first byte of the command to the last byte of the body, EOLs
   * included, the terminating NUL excluded. Over it: FRAME_TOO_LARGE. Default 65536.
   */
  maxFrameBytes: number;
  /** Most header lines in one frame, repeats included. Over it: TOO_MANY_HEADERS. Default 64. */
  maxHeaders: number;
  /** Longest command or header line in bytes, its EOL excluded. Over it: HEADER_LINE_TOO_LONG. Default 8192. */
  maxHeaderLineBytes: number;
}

export const DEFAULT_DECODER_LIMITS: DecoderLimits = Object.freeze({
  maxFrameBytes: 65536,
  maxHeaders: 64,
  maxHeaderLineBytes: 8192,
});

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

// Where the decoder is in the byte stream.
const BETWEEN_FRAMES = 0; // skipping heart-beat EOLs, waiting for a command
const IN_LINE = 1; // reading the command line or a header line
const IN_BODY = 2; // reading the body (by content-length, or up to the NUL)
type State = typeof BETWEEN_FRAMES | typeof IN_LINE | typeof IN_BODY;

const NO_CONTENT_LENGTH = -1;
const DIGITS = /^[0-9]+$/;
const COMMANDS: ReadonlySet<string> = new Set<Command>([...CLIENT_COMMANDS, ...SERVER_COMMANDS]);
const HEARTBEAT: DecodeEvent = Object.freeze({ kind: 'heartbeat' });

/**
 * Streaming STOMP frame decoder (STOMP 1.2 "Augmented BNF", with Spring's decoder as the reference
 * for edge cases). Bytes in, events out; no I/O, no timers.
 *
 * A frame contained in one chunk is decoded without copying: its body is a `subarray` of that chunk,
 * so a chunk must not be modified after it was pushed. Only frames split across chunks are copied.
 *
 * Every check is made at a fixed byte of the stream, so the outcome (frames, and the error if any)
 * does not depend on how the stream was cut into chunks. The one exception is heart-beats: they are
 * counted per push, so a run of EOLs split over two pushes yields two heart-beat events.
 */
export class FrameDecoder {
  private readonly limits: DecoderLimits;
  private version: StompVersion = '1.2';
  private state: State = BETWEEN_FRAMES;
  private failure: { error: unknown } | undefined;
  /** Between frames: a CR was the last byte, so the next one must be LF. */
  private pendingCR = false;
  /** A heart-beat event was already emitted for the current run of EOLs in this push. */
  private beatEmitted = false;

  // The frame being decoded.
  private command: Command | undefined;
  private escaped = true;
  // Both made on first use: most of what an idle session reads is heart-beats.
  private headers: Array<readonly [string, string]> | undefined;
  private contentLengthHeader: string | undefined;
  private contentLength = NO_CONTENT_LENGTH;
  /** Bytes of the current frame already consumed, not counting `parts`. */
  private frameBytes = 0;
  /** The split line (in IN_LINE) or the split body (in IN_BODY), oldest first. */
  private parts: Buffer[] | undefined;
  private partsBytes = 0;
  /** In IN_LINE: the last byte in `parts` is a CR (it may be the first half of a CRLF). */
  private partsEndWithCR = false;

  constructor(limits: Partial<DecoderLimits> = {}) {
    const checked = {
      maxFrameBytes: limit(limits, 'maxFrameBytes'),
      maxHeaders: limit(limits, 'maxHeaders'),
      maxHeaderLineBytes: limit(limits, 'maxHeaderLineBytes'),
    };
    // A complete set is kept as given (a server passes one object to every session's decoder).
    const complete = (Object.keys(checked) as (keyof DecoderLimits)[]).every((k) => limits[k] === checked[k]);
    this.limits = complete ? (limits as DecoderLimits) : checked;
  }

  /**
   * Version whose escaping rules apply to headers from now on (default '1.2' until negotiated).
   * Frames already returned by push() are not affected, including frames that arrived in the same
   * chunk as the CONNECT that negotiated the version.
   */
  setVersion(v: StompVersion): void {
    this.version = v;
  }

  /** Between frames, holding nothing (no half-read frame, no CR waiting for its LF, no failure). */
  get atRest(): boolean {
    return this.state === BETWEEN_FRAMES && !this.pendingCR && this.failure === undefined;
  }

  /** Bytes received for the incomplete frame, if any. Never more than `maxFrameBytes`. */
  get bufferedBytes(): number {
    return this.frameBytes + this.partsBytes;
  }

  /**
   * Feeds bytes; returns every complete event in order. At most one heart-beat event is emitted per
   * run of EOLs in this chunk (a chunk of only "\n" or "\r\n" yields one).
   *
   * Throws StompProtocolError on a protocol violation or an exceeded limit, checked before anything
   * more is buffered. The events of the failing chunk are not returned. After a throw the decoder is
   * unusable: push() throws the same error again until reset().
   */
  push(chunk: Buffer): DecodeEvent[] {
    if (this.failure) throw this.failure.error;
    const events: DecodeEvent[] = [];
    this.beatEmitted = false;
    try {
      let pos = 0;
      while (pos < chunk.length) {
        if (this.state === BETWEEN_FRAMES) pos = this.skipEols(chunk, pos, events);
        else if (this.state === IN_LINE) pos = this.readLine(chunk, pos);
        else if (this.contentLength === NO_CONTENT_LENGTH) pos = this.readBodyToNul(chunk, pos, events);
        else pos = this.readBodyByLength(chunk, pos, events);
      }
    } catch (error) {
      this.clearFrame();
      this.failure = { error };
      throw error;
    }
    return events;
  }

  /** Drops any buffered bytes and a previous failure. The limits and the version are kept. */
  reset(): void {
    this.clearFrame();
    this.pendingCR = false;
    this.failure = undefined;
  }

  private skipEols(chunk: Buffer, pos: number, events: DecodeEvent[]): number {
    for (; pos < chunk.length; pos++) {
      const byte = chunk[pos];
      if (this.pendingCR) {
        if (byte !== LF) throw badEol();
        this.pendingCR = false;
        this.heartbeat(events);
      } else if (byte === LF) {
        this.heartbeat(events);
      } else if (byte === CR) {
        this.pendingCR = true;
      } else {
        this.state = IN_LINE;
        return pos;
      }
    }
    return pos;
  }

  private heartbeat(events: DecodeEvent[]): void {
    if (this.beatEmitted) return;
    this.beatEmitted = true;
    events.push(HEARTBEAT);
  }

  private readLine(chunk: Buffer, pos: number): number {
    const lf = chunk.indexOf(LF, pos);
    const end = lf === -1 ? chunk.length : lf;
    this.checkLineLimits(chunk, pos, end, lf !== -1);
    if (lf === -1) {
      this.stash(chunk, pos, end);
      this.partsEndWithCR = chunk[end - 1] === CR;
      return end;
    }
    let line = chunk;
    let start = pos;
    let stop = lf;
    if (this.parts !== undefined) {
      line = this.takeParts(chunk, pos, lf);
      start = 0;
      stop = line.length;
    }
    this.frameBytes += stop - start + 1;
    if (stop > start && line[stop - 1] === CR) stop--;
    this.onLine(line, start, stop);
    return lf + 1;
  }

  /**
   * Limits of the line in chunk[pos, end) (plus the split part before it). Each limit trips at one
   * fixed position of the line, 1-based, the LF counted, and the earlier one wins; that keeps the
   * error the same however the line is split.
   */
  private checkLineLimits(chunk: Buffer, pos: number, end: number, complete: boolean): void {
    const { maxHeaderLineBytes, maxFrameBytes } = this.limits;
    const raw = this.partsBytes + end - pos;
    const known = raw + (complete ? 1 : 0);
    // A line is too long once its (maxHeaderLineBytes + 2)th byte is seen, unless that byte is the LF
    // of a CRLF: the CR before it is then the EOL, not content.
    const linePos = maxHeaderLineBytes + 2;
    let lineOver = false;
    if (known >= linePos) {
      const endsWithCR = end > pos ? chunk[end - 1] === CR : this.partsEndWithCR;
      lineOver = raw >= linePos || !endsWithCR;
    }
    const framePos = maxFrameBytes - this.frameBytes + 1;
    const frameOver = known >= framePos;
    if (lineOver && (!frameOver || linePos <= framePos)) {
      const what = this.command === undefined ? 'command line' : 'header line';
      throw new StompProtocolError(
        StompErrorCode.HEADER_LINE_TOO_LONG,
        `${what} exceeds the size limit of ${maxHeaderLineBytes} bytes`,
      );
    }
    if (frameOver) throw frameTooLarge(maxFrameBytes);
  }

  private onLine(line: Buffer, start: number, stop: number): void {
    if (this.command === undefined) {
      this.command = parseCommand(line, start, stop);
      this.escaped = commandEscapesHeaders(this.command);
      return;
    }
    if (stop === start) {
      this.endHeaders();
      return;
    }
    // Name and value decoded apart (':' is one byte in UTF-8, never inside a character): a kept
    // value, such as a subscription's destination, is then not a slice holding its whole line.
    const colon = line.indexOf(COLON, start);
    if (colon <= start || colon >= stop) {
      const text = line.toString('utf8', start, stop);
      if (text.includes('\r')) throw badEol();
      this.checkHeaderCount();
      throw new StompProtocolError(
        StompErrorCode.BAD_HEADER,
        `Illegal header: '${printable(text)}'. A header must be of the form <name>:[<value>].`,
      );
    }
    let name = line.toString('utf8', start, colon);
    let value = line.toString('utf8', colon + 1, stop);
    if (name.includes('\r') || value.includes('\r')) throw badEol();
    this.checkHeaderCount();
    if (this.escaped) {
      name = unescapeHeader(name, this.version);
      value = unescapeHeader(value, this.version);
    }
    (this.headers ??= []).push([name, value]);
    // STOMP 1.2 "Repeated Header Entries": only the first occurrence counts.
    if (name === 'content-length' && this.contentLengthHeader === undefined) this.contentLengthHeader = value;
  }

  /** The errors keep their order: a bad EOL, then too many headers, then a malformed header. */
  private checkHeaderCount(): void {
    if ((this.headers?.length ?? 0) >= this.limits.maxHeaders) {
      throw new StompProtocolError(
        StompErrorCode.TOO_MANY_HEADERS,
        `frame has more than ${this.limits.maxHeaders} headers`,
      );
    }
  }

  private endHeaders(): void {
    this.state = IN_BODY;
    const header = this.contentLengthHeader;
    if (header === undefined) return;
    if (!DIGITS.test(header)) {
      throw new StompProtocolError(StompErrorCode.BAD_CONTENT_LENGTH, `Invalid content-length '${printable(header)}'`);
    }
    const length = Number(header);
    const { maxFrameBytes } = this.limits;
    // Refused before a single body byte is buffered (Spring checks it the same way).
    if (length > maxFrameBytes) {
      throw new StompProtocolError(
        StompErrorCode.FRAME_TOO_LARGE,
        `content-length ${printable(header)} exceeds the frame size limit of ${maxFrameBytes} bytes`,
      );
    }
    if (this.frameBytes + length > maxFrameBytes) throw frameTooLarge(maxFrameBytes);
    this.contentLength = length;
  }

  private readBodyByLength(chunk: Buffer, pos: number, events: DecodeEvent[]): number {
    const missing = this.contentLength - this.partsBytes;
    if (chunk.length - pos <= missing) {
      this.stash(chunk, pos, chunk.length);
      return chunk.length;
    }
    const nul = pos + missing;
    // STOMP 1.2: the body is followed by NUL even when content-length says where it ends.
    if (chunk[nul] !== NUL) {
      throw new StompProtocolError(StompErrorCode.MISSING_NUL, 'Frame must be terminated with a null octet');
    }
    this.emitFrame(this.takeBody(chunk, pos, nul), events);
    return nul + 1;
  }

  private readBodyToNul(chunk: Buffer, pos: number, events: DecodeEvent[]): number {
    const nul = chunk.indexOf(NUL, pos);
    const end = nul === -1 ? chunk.length : nul;
    if (this.frameBytes + this.partsBytes + end - pos > this.limits.maxFrameBytes) {
      throw frameTooLarge(this.limits.maxFrameBytes);
    }
    if (nul === -1) {
      this.stash(chunk, pos, end);
      return end;
    }
    this.emitFrame(this.takeBody(chunk, pos, nul), events);
    return nul + 1;
  }

  private emitFrame(body: Buffer, events: DecodeEvent[]): void {
    const command = this.command;
    if (command === undefined) throw new Error('FrameDecoder: body without a command');
    events.push({ kind: 'frame', frame: { command, headers: this.headers ?? [], body } });
    this.clearFrame();
    // EOLs after this frame's NUL start a new run, hence a new heart-beat.
    this.beatEmitted = false;
  }

  /** Keeps chunk[start, end) for later. A slice of a larger chunk is copied so the chunk can be freed. */
  private stash(chunk: Buffer, start: number, end: number): void {
    if (end === start) return;
    (this.parts ??= []).push(start === 0 && end === chunk.length ? chunk : Buffer.from(chunk.subarray(start, end)));
    this.partsBytes += end - start;
  }

  /** The stashed parts followed by chunk[start, end), as one buffer; empties the stash. */
  private takeParts(chunk: Buffer, start: number, end: number): Buffer {
    const parts = this.parts ?? [];
    if (end > start) parts.push(chunk.subarray(start, end));
    const joined = Buffer.concat(parts, this.partsBytes + end - start);
    this.parts = undefined;
    this.partsBytes = 0;
    this.partsEndWithCR = false;
    return joined;
  }

  private takeBody(chunk: Buffer, start: number, end: number): Buffer {
    if (this.parts !== undefined) return this.takeParts(chunk, start, end);
    return end === start ? EMPTY_BODY : chunk.subarray(start, end);
  }

  private clearFrame(): void {
    this.state = BETWEEN_FRAMES;
    this.command = undefined;
    this.escaped = true;
    this.headers = undefined;
    this.contentLengthHeader = undefined;
    this.contentLength = NO_CONTENT_LENGTH;
    this.frameBytes = 0;
    this.parts = undefined;
    this.partsBytes = 0;
    this.partsEndWithCR = false;
  }
}

const COLON = 0x3a;

/** Only heart-beat EOLs ("\n" or "\r\n"): what an idle client sends, nothing a decoder must see. */
export function isOnlyHeartbeats(chunk: Buffer): boolean {
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i];
    if (b === LF) continue;
    if (b !== CR || chunk[i + 1] !== LF) return false;
    i++;
  }
  return chunk.length > 0;
}

function parseCommand(line: Buffer, start: number, stop: number): Command {
  // latin1 is a byte-for-byte decode; a command is ASCII, so anything else simply fails the lookup.
  const text = line.toString('latin1', start, stop);
  if (isCommand(text)) return text;
  const shown = line.toString('utf8', start, stop);
  if (shown.includes('\r')) throw badEol();
  throw new StompProtocolError(StompErrorCode.UNKNOWN_COMMAND, `Unknown command '${printable(shown)}'`);
}

function isCommand(text: string): text is Command {
  return COMMANDS.has(text);
}

function badEol(): StompProtocolError {
  return new StompProtocolError(StompErrorCode.BAD_EOL, "'\\r' must be followed by '\\n'");
}

function frameTooLarge(maxFrameBytes: number): StompProtocolError {
  return new StompProtocolError(
    StompErrorCode.FRAME_TOO_LARGE,
    `frame exceeds the size limit of ${maxFrameBytes} bytes`,
  );
}

/** A configured limit, or its default when unset. A bad value is a programming error, not a protocol one. */
function limit(limits: Partial<DecoderLimits>, name: keyof DecoderLimits): number {
  const value = limits[name] ?? DEFAULT_DECODER_LIMITS[name];
  // NaN, a fraction or a non-positive limit would silently disable or break the check it guards.
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`DecoderLimits.${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
