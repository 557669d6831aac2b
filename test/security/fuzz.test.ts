import { expect } from 'chai';
import fc from 'fast-check';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { pino } from 'pino';
import WebSocket from 'ws';
import { FrameDecoder, header, type Frame, type StompVersion } from '../../protocol/index.js';
import { encodeWsFrame, OPCODE } from '../helpers/raw-tcp.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient } from '../helpers/stomp-client.js';
import { delay, waitFor } from '../helpers/wait.js';

// ---- what the fuzzer sends ------------------------------------------------------------------

const DESTINATIONS = [
  '/topic/fz',
  '/topic/fz/a',
  '/queue/fz',
  '/user/queue/fz',
  '/user/fz-1/queue/fz',
  '/user/1/queue/chat',
  '/topic/docs/1/edits',
  '/app/chat/fz-1/fz-2/1',
  '/app/chat/x/y/1',
  '/app/chat/a%2Fb/c%2Fd/1',
  '/app/chat/fz-1/a%2Fb/1',
  '/app/nothing',
  '/topic/**',
  '/topic/*/a',
  '/user/**',
  '/user/*/queue/fz',
  '/topic/{a}',
  '/topic/{a:[0-9]+}',
  '/topic/{a:(a+)+}',
  '/topic/{',
  '/topic/}',
  '/nowhere',
  '',
  '/',
  '//',
  '/topic/../x',
  '/topic/./x',
  '/topic/%2F..%2F',
  '/user/%2F/queue/x',
  '/user/',
  '/user/x',
  '/app/',
  '/topic/' + 'a'.repeat(1100),
];

const destination = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...DESTINATIONS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map((s) => `/topic/${s}`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }).map((s) => `/user/${s}`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }) },
);

const headerName = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom(
      'destination',
      'id',
      'receipt',
      'ack',
      'transaction',
      'content-length',
      'content-type',
      'message-id',
      'subscription',
      'heart-beat',
      'x-custom',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 10, unit: 'binary-ascii' }) },
);

const headerValue = fc.oneof(
  { weight: 4, arbitrary: destination },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '1',
      '2',
      'a',
      'tx',
      'client',
      'client-individual',
      'auto',
      '0',
      '-1',
      '99999999999',
      'abc',
      '1,1',
      'application/octet-stream',
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom('\\n', '\\c', '\\r', '\\\\', '\\x', '\\', 'a\\', ':', 'a:b') },
  { weight: 2, arbitrary: fc.string({ maxLength: 30, unit: 'binary' }) },
);

const body = fc.oneof(
  { weight: 6, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 4, arbitrary: fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)) },
  // over MAX_FRAME_BYTES (64 KiB)
  { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 70_000 }).map((n) => Buffer.alloc(n, 0x61)) },
);

const commandName = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.constantFrom(
      'SEND',
      'SEND',
      'SUBSCRIBE',
      'SUBSCRIBE',
      'UNSUBSCRIBE',
      'ACK',
      'NACK',
      'BEGIN',
      'COMMIT',
      'ABORT',
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'CONNECT',
      'STOMP',
      'DISCONNECT',
      'MESSAGE',
      'RECEIPT',
      'ERROR',
      'CONNECTED',
      'send',
      'SEND ',
      ' SEND',
      '',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12, unit: 'binary-ascii' }) },
);

interface FrameSpec {
  command: string;
  headers: [string, string][];
  body: Buffer;
  eol: string;
  contentLength: 'none' | 'exact' | 'less' | 'more' | 'negative' | 'junk' | 'huge';
  end: 'nul' | 'none' | 'junk' | 'eols';
  extra: 'none' | 'many-headers' | 'long-line';
  truncateAt: number | null;
  flips: [number, number][];
}

/** A value as STOMP 1.2 writes it (a NUL cannot be written at all). */
const escaped = (v: string) =>
  v.replace(/\0/g, '').replace(/\\/g, '\\\\').replace(/:/g, '\\c').replace(/\n/g, '\\n').replace(/\r/g, '\\r');

/** A frame the decoder accepts; what the node makes of its command, headers and body is fuzzed. */
const wellFormed: fc.Arbitrary<FrameSpec> = fc.record({
  command: fc.constantFrom(
    'SEND',
    'SEND',
    'SEND',
    'SUBSCRIBE',
    'SUBSCRIBE',
    'SUBSCRIBE',
    'UNSUBSCRIBE',
    'ACK',
    'NACK',
    'BEGIN',
    'COMMIT',
    'ABORT',
  ),
  headers: fc.array(
    fc.tuple(
      fc.constantFrom(
        'destination',
        'destination',
        'id',
        'id',
        'receipt',
        'ack',
        'transaction',
        'content-type',
        'message-id',
        'subscription',
        'x-custom',
      ),
      fc
        .oneof(
          destination,
          fc.constantFrom('1', '2', 'a', 'tx', 'client', 'client-individual', 'auto', 'application/octet-stream'),
          fc.string({ maxLength: 30, unit: 'binary' }),
        )
        .map(escaped),
    ),
    { maxLength: 6 },
  ),
  body: fc.oneof(
    fc.constant(Buffer.alloc(0)),
    fc.string({ maxLength: 200 }).map((t) => Buffer.from(t)),
  ),
  eol: fc.constantFrom('\n', '\r\n'),
  contentLength: fc.constantFrom('none', 'exact'),
  end: fc.constantFrom('nul', 'eols'),
  extra: fc.constant('none'),
  truncateAt: fc.constant(null),
  flips: fc.constant([]),
});

/** Anything goes: bad commands, lengths, terminators, EOLs, oversized parts, cut and flipped bytes. */
const anyFrame: fc.Arbitrary<FrameSpec> = fc.record({
  command: commandName,
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }),
  body,
  eol: fc.constantFrom('\n', '\n', '\n', '\r\n', '\r'),
  contentLength: fc.constantFrom('none', 'none', 'exact', 'exact', 'less', 'more', 'negative', 'junk', 'huge'),
  end: fc.constantFrom('nul', 'nul', 'nul', 'nul', 'nul', 'none', 'junk', 'eols'),
  extra: fc.constantFrom('none', 'none', 'none', 'none', 'none', 'none', 'none', 'none', 'many-headers', 'long-line'),
  truncateAt: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(300) }),
  flips: fc.array(fc.tuple(fc.nat(400), fc.nat(255)), { maxLength: 2 }),
});

/** What a buggy or curious client sends: the headers each command needs, odd values, extra headers. */
const extraHeaders = fc.array(
  fc.tuple(
    fc.constantFrom('receipt', 'ack', 'content-type', 'message-id', 'subscription', 'x-custom', 'destination', 'id'),
    headerValue.map(escaped),
  ),
  { maxLength: 3 },
);
const usable = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.constantFrom(
      '/topic/fz',
      '/topic/fz/a',
      '/queue/fz',
      '/user/queue/fz',
      '/user/fz-1/queue/fz',
      '/user/1/queue/chat',
      '/topic/docs/1/edits',
      '/app/chat/fz-1/fz-2/1',
      '/app/chat/fz-1/a%2Fb/1',
      '/app/chat/x/y/1',
      '/app/echo',
      '/topic/**',
      '/topic/*/a',
      '/user/**',
      '/topic/{a}',
    ),
  },
  { weight: 1, arbitrary: destination },
);
const id = fc.constantFrom('1', '2', '3', 'a');
const eol = fc.constantFrom('\n', '\r\n');

function stomp(
  command: string,
  headers: [string, string][],
  body = Buffer.alloc(0),
  lineEnd = '\n',
  withLength = false,
): Buffer {
  const all: [string, string][] = withLength ? [...headers, ['content-length', String(body.length)]] : headers;
  return Buffer.concat([
    Buffer.from([command, ...all.map(([k, v]) => `${k}:${v}`), ''].join(lineEnd) + lineEnd),
    body,
    Buffer.from([0]),
  ]);
}

const plausible: fc.Arbitrary<Buffer> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(usable, fc.string({ maxLength: 300 }), extraHeaders, eol, fc.boolean())
      .map(([d, b, extra, e, len]) => stomp('SEND', [['destination', escaped(d)], ...extra], Buffer.from(b), e, len)),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(id, usable, fc.constantFrom('auto', 'client', 'client-individual'), extraHeaders, eol)
      .map(([i, d, a, extra, e]) =>
        stomp('SUBSCRIBE', [['id', i], ['destination', escaped(d)], ['ack', a], ...extra], undefined, e),
      ),
  },
  { weight: 1, arbitrary: fc.tuple(id, extraHeaders).map(([i, extra]) => stomp('UNSUBSCRIBE', [['id', i], ...extra])) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom('ACK', 'NACK'), fc.nat(20), id).map(([c, k, i]) =>
      stomp(c, [
        ['id', String(k)],
        ['message-id', String(k)],
        ['subscription', i],
      ]),
    ),
  },
  {
    // a transaction as a block: BEGIN, a few SENDs and ACKs in it, COMMIT or ABORT
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('t1', 't2'), fc.array(usable, { maxLength: 4 }), fc.constantFrom('COMMIT', 'ABORT'))
      .map(([t, ds, end]) =>
        Buffer.concat([
          stomp('BEGIN', [['transaction', t]]),
          ...ds.map((d) =>
            stomp(
              'SEND',
              [
                ['destination', escaped(d)],
                ['transaction', t],
              ],
              Buffer.from('in a transaction'),
            ),
          ),
          stomp(end, [['transaction', t]]),
        ]),
      ),
  },
);

const fuzzFrame = fc.oneof(
  { weight: 60, arbitrary: plausible },
  { weight: 2, arbitrary: wellFormed.map(encodeSpec) },
  { weight: 1, arbitrary: anyFrame.map(encodeSpec) },
);

function encodeSpec(f: FrameSpec): Buffer {
  const headers = [...f.headers];
  const cl = {
    none: undefined,
    exact: f.body.length,
    less: Math.max(0, f.body.length - 3),
    more: f.body.length + 5,
    negative: -1,
    junk: 'x1',
    huge: 10 ** 9,
  }[f.contentLength];
  if (cl !== undefined) headers.push(['content-length', String(cl)]);
  if (f.extra === 'many-headers') for (let i = 0; i < 70; i++) headers.push([`h${i}`, 'v']);
  if (f.extra === 'long-line') headers.push(['x-long', 'y'.repeat(9000)]);
  const head = [f.command, ...headers.map(([k, v]) => `${k}:${v}`), ''].join(f.eol) + f.eol;
  const tail = {
    nul: Buffer.from([0]),
    none: Buffer.alloc(0),
    junk: Buffer.from('\0garbage-after'),
    eols: Buffer.from('\0\n\r\n\n'),
  }[f.end];
  let bytes = Buffer.concat([Buffer.from(head), f.body, tail]);
  if (f.truncateAt !== null) bytes = bytes.subarray(0, Math.min(bytes.length, f.truncateAt));
  if (f.flips.length > 0) {
    bytes = Buffer.from(bytes);
    for (const [at, value] of f.flips) if (at < bytes.length) bytes[at] = value;
  }
  return bytes;
}

interface Script {
  login: string;
  connect: 'valid' | 'fuzzed' | 'none';
  version: string;
  frames: Buffer[];
  /** 'each': one WebSocket message per frame; 'joined': all in one; else: the stream cut into pieces of these sizes. */
  chunking: 'each' | 'joined' | number[];
  binary: boolean;
  garbage: Buffer | null;
}

const script: fc.Arbitrary<Script> = fc.record({
  login: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('fz-1', 'fz-2', 'fz-3', '1', '') },
    { weight: 1, arbitrary: fc.string({ maxLength: 10, unit: 'binary' }) },
  ),
  connect: fc.constantFrom(
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'fuzzed',
    'none',
  ),
  version: fc.constantFrom('1.2', '1.2', '1.2', '1.1', '1.0', '1.2,1.1,1.0', '1.2,1.1,1.0', '1.2', '1.2', '2.0'),
  frames: fc.array(fuzzFrame, { minLength: 15, maxLength: 60, size: 'max' }),
  chunking: fc.oneof(
    fc.constant('each' as const),
    fc.constant('joined' as const),
    fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }),
  ),
  binary: fc.boolean(),
  garbage: fc.oneof(
    { weight: 9, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) },
  ),
});

function connectFrame(s: Script): Buffer {
  if (s.connect === 'fuzzed') {
    return Buffer.from(
      `CONNECT\naccept-version:${s.version}\nlogin:${s.login}\nheart-beat:${s.login}\nreceipt:c\n\n\0`,
    );
  }
  return Buffer.from(`CONNECT\naccept-version:${s.version}\nheart-beat:0,0\nlogin:${s.login}\n\n\0`);
}

function messagesOf(s: Script): Buffer[] {
  const first = s.connect === 'none' ? [] : [connectFrame(s)];
  const frames = [...(s.garbage ? [s.garbage] : []), ...s.frames];
  if (s.chunking === 'each') return [...first, ...frames];
  const stream = Buffer.concat(frames);
  if (s.chunking === 'joined') return [...first, stream];
  const out: Buffer[] = [...first];
  let at = 0;
  for (let i = 0; at < stream.length; i++) {
    const size = s.chunking[i % s.chunking.length]!;
    out.push(stream.subarray(at, at + size));
    at += size;
  }
  return out;
}

// ---- what the fuzzer watches ------------------------------------------------------------------

interface Observed {
  frames: Frame[];
  decodeError: unknown;
  close: { code: number; reason: string } | undefined;
  messagesSent: number;
}

const totals = { sockets: 0, frames: 0, wsMessages: 0, decodedByNode: 0, errors: 0, closes: new Map<number, number>() };

const errorKinds = new Map<string, number>();

async function runScript(url: string, s: Script): Promise<Observed> {
  const ws = new WebSocket(url, ['v12.stomp', 'v11.stomp', 'v10.stomp']);
  const observed: Observed = { frames: [], decodeError: undefined, close: undefined, messagesSent: 0 };
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
  // Before CONNECTED the client cannot know the version (an ERROR then uses the one its CONNECT
  // asked for): read it with 1.0 rules, which check the framing but unescape nothing.
  decoder.setVersion('1.0');
  ws.on('message', (data: Buffer) => {
    try {
      for (const e of decoder.push(data)) {
        if (e.kind !== 'frame') continue;
        observed.frames.push(e.frame);
        // CONNECTED is never escaped; what follows uses the negotiated version's escaping.
        if (e.frame.command === 'CONNECTED') decoder.setVersion((header(e.frame, 'version') ?? '1.2') as StompVersion);
      }
    } catch (err) {
      observed.decodeError ??= err;
    }
  });
  ws.on('error', () => {});
  const closed = new Promise<void>((resolve) => {
    ws.on('close', (code, reason) => {
      observed.close = { code, reason: reason.toString() };
      resolve();
    });
  });
  const opened = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('close', () => resolve(false));
  });
  totals.sockets++;
  if (!opened) return observed;
  for (const m of messagesOf(s)) {
    if (ws.readyState !== WebSocket.OPEN) break;
    ws.send(m, { binary: s.binary });
    observed.messagesSent++;
  }
  totals.wsMessages += observed.messagesSent;
  totals.frames += s.frames.length + (s.connect === 'none' ? 0 : 1);
  await Promise.race([closed, delay(60)]);
  if (!observed.close) {
    ws.close();
    await Promise.race([closed, delay(2000)]);
    if (!observed.close) ws.terminate();
    await closed;
  }
  totals.closes.set(observed.close!.code, (totals.closes.get(observed.close!.code) ?? 0) + 1);
  return observed;
}

/** What must hold for any socket, whatever it sent. */
function checkObserved(o: Observed): void {
  expect(o.decodeError, "the node's output decodes as STOMP").to.equal(undefined);
  for (const f of o.frames) expect(['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR']).to.include(f.command);
  const error = o.frames.find((f) => f.command === 'ERROR');
  if (error) {
    totals.errors++;
    const key = (header(error, 'message') ?? '').slice(0, 30);
    errorKinds.set(key, (errorKinds.get(key) ?? 0) + 1);
    expect(header(error, 'message'), 'an ERROR says what was wrong').to.be.a('string').and.not.equal('');
    expect(header(error, 'message')).to.not.equal('internal error');
    // the ERROR is the last thing the session says; the close follows it, with the error's code
    expect(o.frames.indexOf(error)).to.equal(o.frames.length - 1);
    expect([1002, 1008, 4500]).to.include(o.close?.code);
  }
  expect(o.close?.code, 'no internal failure').to.not.equal(1011);
}

// ---- TCP-level garbage: bytes that are not even a WebSocket -------------------------------

const HANDSHAKE = (port: number, extra = '') =>
  `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n${extra}\r\n`;

const connectWs = encodeWsFrame(Buffer.from('CONNECT\naccept-version:1.2\nlogin:tcp\n\n\0'));
const wireGarbage = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 512 }).map((a) => ({ handshake: false, bytes: Buffer.from(a) })),
  fc
    .string({ maxLength: 200 })
    .map((s) => ({ handshake: false, bytes: Buffer.from(`GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n${s}\r\n\r\n`) })),
  fc
    .constantFrom(
      encodeWsFrame(Buffer.from('CONNECT\n\n\0'), { mask: false }), // unmasked client frame
      encodeWsFrame(Buffer.from('x'), { rsv: 4 }), // reserved bit without an extension
      encodeWsFrame(Buffer.from('x'), { opcode: 0x3 }), // reserved opcode
      encodeWsFrame(Buffer.alloc(200), { opcode: OPCODE.ping }), // control frame over 125 bytes
      encodeWsFrame(Buffer.from('p'), { opcode: OPCODE.ping, fin: false }), // fragmented control frame
      encodeWsFrame(Buffer.from('x'), { opcode: OPCODE.continuation }), // continuation with nothing to continue
      encodeWsFrame(Buffer.alloc(0), { declaredLength: 2 ** 40 }), // a terabyte announced
      encodeWsFrame(Buffer.from([0xc3, 0x28, 0xff])), // invalid UTF-8 in a text message
      Buffer.concat([
        connectWs,
        encodeWsFrame(Buffer.from('SEND\ndestination:/topic/fz\n\n'), { fin: false }),
        encodeWsFrame(Buffer.from('x'), { opcode: OPCODE.text }),
      ]),
    )
    .map((bytes) => ({ handshake: true, bytes })),
  fc
    .uint8Array({ minLength: 1, maxLength: 512 })
    .map((a) => ({ handshake: true, bytes: Buffer.concat([connectWs, Buffer.from(a)]) })),
);

async function runWire(port: number, g: { handshake: boolean; bytes: Buffer }): Promise<void> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  socket.on('data', () => {});
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  totals.sockets++;
  if (g.handshake) socket.write(HANDSHAKE(port));
  socket.write(g.bytes);
  await Promise.race([ended, delay(150)]);
  socket.destroy();
  await ended;
}

// ---- the suite ------------------------------------------------------------------------------

function gcFunction(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

describe('fuzzing a live node with malformed, truncated, oversized and random input', function () {
  this.timeout(60_000);
  let n: StartedNode;
  const logged: { level: number; msg?: string; code?: string }[] = [];
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  let gc: () => void;
  let heapBefore = 0;

  before(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    const log = pino(
      { level: 'warn' },
      {
        write: (line: string) => {
          logged.push(JSON.parse(line) as (typeof logged)[number]);
        },
      },
    );
    n = await startNode({}, { log });
    n.node.app.onMessage('/echo', ({ message }) => message.body.toString());
    gc = gcFunction();
    // Warm up the code paths once so the heap baseline includes compiled code, not just start-up.
    for (const s of fc.sample(script, { numRuns: 8, seed: 1 })) checkObserved(await runScript(n.url, s));
    await waitFor(async () => (await gauge('connections')) === 0, 'warm-up sockets closed');
    gc();
    heapBefore = process.memoryUsage().heapUsed;
  });

  after(async () => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    totals.decodedByNode = (await n.node.metrics.framesIn.get()).values.reduce((sum, v) => sum + v.value, 0);
    await n.stop();
    if (process.env.FUZZ_REPORT) {
      process.stdout.write(
        `      fuzz totals: ${JSON.stringify({ ...totals, closes: Object.fromEntries(totals.closes) })}\n`,
      );
      process.stdout.write(
        `      logged at error level: ${JSON.stringify(logged.filter((e) => e.level >= 50).map((e) => e.msg))}\n`,
      );
      process.stdout.write(
        `      ERROR messages: ${JSON.stringify(Object.fromEntries([...errorKinds].sort((a, b) => b[1] - a[1])))}\n`,
      );
    }
  });

  async function gauge(name: 'connections' | 'sessions' | 'subscriptions'): Promise<number> {
    return (await n.node.metrics[name].get()).values[0]?.value ?? 0;
  }

  it('answers every socket of STOMP-shaped garbage with frames that decode, an ERROR with a message before any close, never an internal error', async () => {
    // 25 rounds of 4 concurrent sockets, each with 15 to 60 frames: about 3,700 frames over 100 sockets.
    await fc.assert(
      fc.asyncProperty(fc.array(script, { minLength: 4, maxLength: 4 }), async (scripts) => {
        const results = await Promise.all(scripts.map((s) => runScript(n.url, s)));
        for (const r of results) checkObserved(r);
      }),
      { numRuns: 25, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) },
    );
    expect(totals.frames).to.be.above(2000);
  });

  it('survives bytes that are not a WebSocket or break its framing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(wireGarbage, { minLength: 5, maxLength: 5 }), async (all) => {
        await Promise.all(all.map((g) => runWire(n.port, g)));
      }),
      { numRuns: 8, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) },
    );
  });

  it('then serves a well-behaved STOMP.js client normally', async () => {
    const a = await connectClient(n.url, { login: 'after-fuzz-a' });
    const b = await connectClient(n.url, { login: 'after-fuzz-b' });
    const inbox = await b.subscribeWithReceipt('/topic/after');
    const mine = await b.subscribeWithReceipt('/user/queue/after');
    const echo = await b.subscribeWithReceipt('/topic/echo');
    await a.sendWithReceipt('/topic/after', 'still fine');
    await a.sendWithReceipt('/user/after-fuzz-b/queue/after', 'just for b');
    await a.sendWithReceipt('/app/echo', 'echo');
    expect((await inbox.wait(1))[0]!.body).to.equal('still fine');
    expect((await mine.wait(1))[0]!.body).to.equal('just for b');
    expect((await echo.wait(1))[0]!.body).to.equal('echo');
    expect(a.errors.concat(b.errors)).to.have.length(0);
    await a.disconnect();
    await b.disconnect();
  });

  it('logged no internal failure, raised no uncaught exception or rejection, and holds no session state', async () => {
    await waitFor(async () => (await gauge('connections')) === 0, 'every socket closed', 10_000);
    expect(await gauge('sessions')).to.equal(0);
    expect(await gauge('subscriptions')).to.equal(0);
    expect(crashes).to.deep.equal([]);
    const failures = logged.filter(
      (e) =>
        e.level >= 50 && (e.msg === 'session failed' || e.msg === 'session cleanup failed' || e.code === 'INTERNAL'),
    );
    expect(failures).to.deep.equal([]);
    const internal = (await n.node.metrics.errors.get()).values.find((v) => v.labels.code === 'INTERNAL');
    expect(internal?.value ?? 0).to.equal(0);
  });

  it('returns the heap to within a bound of where it started', async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await delay(20);
    }
    const grownMiB = (process.memoryUsage().heapUsed - heapBefore) / 1048576;
    if (process.env.FUZZ_REPORT) process.stdout.write(`      heap growth after fuzzing: ${grownMiB.toFixed(1)} MiB\n`);
    // What may legitimately stay: offline messages for the users the fuzzer wrote to, and caches.
    expect(grownMiB).to.be.below(32);
  });
});
