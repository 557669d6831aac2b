import { expect } from 'chai';
import type { History, StreamPosition } from '../../server/history/history.js';
import { MemoryHistory } from '../../server/history/memory-history.js';
import {
  GAP_RETRY_FOR_MS,
  SubscriptionStream,
  type StreamCopy,
  type StreamEvents,
} from '../../server/history/subscription-stream.js';
import type { RelayMessage } from '../../server/relay/relay-message.js';
import { streamMessage } from '../contract/history.contract.js';
import { waitFor } from '../helpers/wait.js';

const DOC = '/topic/docs/7';

describe('subscription stream (offset gate with its history reads)', () => {
  let history: MemoryHistory;
  const streams: SubscriptionStream[] = [];

  beforeEach(() => {
    history = new MemoryHistory({ limits: { size: 50, ttlMs: 60_000 } });
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    await history.close();
  });

  /** A stream subscription writing into `written` as `id@offset` (`id` alone without offset headers). */
  function follow(
    options: { holdMs?: number; maxHeld?: number; on?: History; offline?: () => Promise<StreamCopy[]> } = {},
  ) {
    const written: string[] = [];
    const events: string[] = [];
    const recorder: StreamEvents = {
      resumed: (r) => events.push(`resumed:${r}`),
      dropped: (reason) => events.push(`dropped:${reason}`),
      gapFilled: () => events.push('gap-filled'),
      skipped: (n) => events.push(`skipped:${n}`),
      gapFillFailed: () => events.push('gap-fill-failed'),
    };
    const stream = new SubscriptionStream({
      history: options.on ?? history,
      stream: DOC,
      maxHeld: options.maxHeld ?? 50,
      holdMs: options.holdMs ?? 20,
      events: recorder,
      ...(options.offline ? { offline: options.offline } : {}),
      write: (msg: RelayMessage, p: StreamPosition | undefined) => written.push(p ? `${msg.id}@${p.offset}` : msg.id),
    });
    streams.push(stream);
    return { stream, written, events };
  }

  /** Appends like the router: the message and the copy that travels with its position. */
  async function accept(id: string): Promise<StreamCopy> {
    const msg = streamMessage(id, { destination: DOC });
    const p = await history.append(DOC, msg);
    return { msg, ...p };
  }

  it('starts at the position it reports for the RECEIPT, writing the copies that arrived meanwhile', async () => {
    await accept('a');
    const { stream, written } = follow();
    const b = await accept('b');
    stream.offer(b.msg, b.epoch, b.offset);
    const start = await stream.start(undefined, []);
    expect(start).to.deep.equal({ position: { epoch: b.epoch, offset: 2 }, recovered: undefined });
    // 'b' was accepted before the position was read: the subscription starts after it.
    expect(written).to.deep.equal([]);
    const c = await accept('c');
    stream.offer(c.msg, c.epoch, c.offset);
    expect(written).to.deep.equal(['c@3']);
  });

  it('resumes: writes the missed messages, then live copies, a copy that arrived during the read once', async () => {
    const [a, b, c] = [await accept('a'), await accept('b'), await accept('c')];
    const { stream, written, events } = follow();
    stream.offer(c.msg, c.epoch, c.offset); // live copy racing the replay
    const start = await stream.start({ epoch: a.epoch, offset: 1 }, []);
    expect(start).to.deep.equal({ position: { epoch: a.epoch, offset: 3 }, recovered: true });
    const d = await accept('d');
    stream.offer(d.msg, d.epoch, d.offset);
    stream.offer(b.msg, b.epoch, b.offset);
    expect(written).to.deep.equal(['b@2', 'c@3', 'd@4']);
    expect(events).to.deep.equal(['resumed:true', 'dropped:duplicate', 'dropped:duplicate']);
  });

  it('starts live without a replay when the resume is not recovered', async () => {
    const a = await accept('a');
    await accept('b');
    const { stream, written, events } = follow();
    expect(await stream.start({ epoch: 'another-epoch', offset: 1 }, [])).to.deep.equal({
      position: { epoch: a.epoch, offset: 2 },
      recovered: false,
    });
    expect(written).to.deep.equal([]);
    expect(events).to.deep.equal(['resumed:false']);
  });

  it('writes an offline message once though it is also replayed, and not at all when the client had it', async () => {
    const [a, b, c] = [await accept('a'), await accept('b'), await accept('c')];
    const resumed = follow();
    await resumed.stream.start({ epoch: a.epoch, offset: 2 }, [a, c]);
    expect(resumed.written).to.deep.equal(['c@3']);
    const fresh = follow();
    await fresh.stream.start(undefined, [b, a]);
    expect(fresh.written, 'a plain SUBSCRIBE gets its offline messages as before, in offset order').to.deep.equal([
      'a@1',
      'b@2',
    ]);
  });

  it('writes offline messages of a lost epoch without offsets on a plain SUBSCRIBE, and drops them after a resume', async () => {
    const old: StreamCopy = { msg: streamMessage('old'), epoch: '000000000zzzzzz', offset: 9 };
    const a = await accept('a');
    const fresh = follow();
    await fresh.stream.start(undefined, [old, a]);
    expect(fresh.written).to.deep.equal(['old', 'a@1']);
    const resumed = follow();
    await resumed.stream.start({ epoch: a.epoch, offset: 1 }, [old]);
    expect(resumed.written).to.deep.equal([]);
    expect(resumed.events).to.deep.equal(['resumed:true', 'dropped:stale-epoch']);
  });

  it('fills a gap from history once the held copy has waited holdMs', async () => {
    const { stream, written, events } = follow({ holdMs: 20 });
    await stream.start(undefined, []);
    const [, b, c] = [await accept('a'), await accept('b'), await accept('c')];
    // 'a' never arrives live (stored offline, or re-routed late): 'b' and 'c' wait, then 'a' is read.
    stream.offer(c.msg, c.epoch, c.offset);
    stream.offer(b.msg, b.epoch, b.offset);
    expect(written).to.deep.equal([]);
    await waitFor(() => written.length === 3, 'the gap fill', 2000, 5);
    expect(written).to.deep.equal(['a@1', 'b@2', 'c@3']);
    expect(events).to.deep.equal(['gap-filled']);
  });

  it('fills from the offline inbox what the history no longer has, before giving the gap up', async () => {
    await history.close();
    history = new MemoryHistory({ limits: { size: 3, ttlMs: 60_000 } });
    const inbox: StreamCopy[] = [];
    const taken: number[] = [];
    const { stream, written, events } = follow({
      holdMs: 5,
      offline: async () => {
        taken.push(inbox.length);
        return inbox.splice(0);
      },
    });
    await stream.start(undefined, []);
    const copies: StreamCopy[] = [];
    for (const id of ['a', 'b', 'c', 'd', 'e']) copies.push(await accept(id));
    // a and b waited in the inbox (stored while the recipient's node had no queue), the history
    // keeps only d, e and f, c was lost for good; e arrives live; f is in the inbox too, ahead of its time.
    const f = await accept('f');
    inbox.push(copies[0]!, copies[1]!, f);
    const e = copies[4]!;
    stream.offer(e.msg, e.epoch, e.offset);
    await waitFor(() => written.length === 5, 'the gap fill', 2000, 5);
    expect(written).to.deep.equal(['a@1', 'b@2', 'd@4', 'e@5', 'f@6']);
    expect(taken).to.deep.equal([3]);
    expect(events).to.deep.equal(['gap-filled', 'skipped:1']);
  });

  /** `history` whose range reads fail while `down()` says so. */
  function flaky(down: () => boolean): History {
    return {
      position: (s) => history.position(s),
      append: (s, m) => history.append(s, m),
      since: (s, e, o) => history.since(s, e, o),
      range: (s, e, f, t) => (down() ? Promise.reject(new Error('redis down')) : history.range(s, e, f, t)),
      close: async () => {},
    };
  }

  it('holds what follows a gap while the gap cannot be read, and writes all in order once it can', async () => {
    let down = true;
    const { stream, written, events } = follow({ holdMs: 5, on: flaky(() => down) });
    await stream.start(undefined, []);
    const [, b, c] = [await accept('a'), await accept('b'), await accept('c')];
    stream.offer(c.msg, c.epoch, c.offset);
    stream.offer(b.msg, b.epoch, b.offset);
    await waitFor(() => events.includes('gap-fill-failed'), 'a failed gap fill', 2000, 5);
    expect(written).to.deep.equal([]); // nothing given up: a@1 is in history, just unreadable
    down = false;
    await waitFor(() => written.length === 3, 'the gap filled on a later try', 3000, 10);
    expect(written).to.deep.equal(['a@1', 'b@2', 'c@3']);
    expect(events.filter((e) => e !== 'gap-fill-failed')).to.deep.equal(['gap-filled']);
  });

  it(`gives a gap up, writing what it held in order, when its reads keep failing for ${GAP_RETRY_FOR_MS / 1000} s`, async () => {
    let skew = 0;
    let failures = 0;
    const failing = flaky(() => {
      // At the second try the clock jumps past GAP_RETRY_FOR_MS.
      if (failures++ > 0) skew = GAP_RETRY_FOR_MS;
      return true;
    });
    const written: string[] = [];
    const events: string[] = [];
    const stream = new SubscriptionStream({
      history: failing,
      stream: DOC,
      maxHeld: 50,
      holdMs: 5,
      now: () => Date.now() + skew,
      events: {
        gapFillFailed: (_err, givenUp) => events.push(`failed:${givenUp}`),
        skipped: (n) => events.push(`skipped:${n}`),
      },
      write: (msg, p) => written.push(`${msg.id}@${p?.offset}`),
    });
    streams.push(stream);
    await stream.start(undefined, []);
    const [, b, c] = [await accept('a'), await accept('b'), await accept('c')];
    stream.offer(c.msg, c.epoch, c.offset);
    stream.offer(b.msg, b.epoch, b.offset);
    await waitFor(() => written.length === 2, 'the held copies', 4000, 10);
    expect(written).to.deep.equal(['b@2', 'c@3']);
    expect(events).to.deep.equal(['failed:false', 'failed:true', 'skipped:1']);
  });

  it('writes nothing more once closed, and leaves no timer behind', async () => {
    const { stream, written } = follow({ holdMs: 10_000 });
    await stream.start(undefined, []);
    await accept('a');
    const b = await accept('b');
    stream.offer(b.msg, b.epoch, b.offset);
    stream.close();
    const c = await accept('c');
    stream.offer(c.msg, c.epoch, c.offset);
    expect(written).to.deep.equal([]);
    // A leaked 10 s timer would keep mocha (no --exit) from ending: the run itself checks it.
  });

  it('rejects start when the history cannot be read, so the SUBSCRIBE fails', async () => {
    const down: History = {
      position: () => Promise.reject(new Error('redis down')),
      append: () => Promise.reject(new Error('redis down')),
      since: () => Promise.reject(new Error('redis down')),
      range: () => Promise.reject(new Error('redis down')),
      close: async () => {},
    };
    const { stream } = follow({ on: down });
    const err = await stream.start(undefined, []).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.an('error').with.property('message', 'redis down');
  });
});
