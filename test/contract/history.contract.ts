import { expect } from 'chai';
import type { History, HistoryLimits, StreamPosition } from '../../server/history/history.js';
import type { RelayMessage } from '../../server/relay/relay-message.js';

export interface HistoryFixture {
  /**
   * Two handles on one store, as two nodes have (the same object for the memory form, two
   * connections for Redis).
   */
  readonly histories: readonly [History, History];
  /** Loses the stream's history the way the backend can in production (Redis: keys gone; memory: forgotten). */
  lose(stream: string): Promise<void>;
  /** Closes the handles and removes whatever they kept. */
  cleanup(): Promise<void>;
}

/** A fresh, empty history with these limits, reading time from `now`; `advance` moves that clock on. */
export type MakeHistory = (
  limits: HistoryLimits,
  now: () => number,
  advance: (ms: number) => void,
) => Promise<HistoryFixture>;

/** A message as the router would append it. */
export function streamMessage(id: string, extra: Partial<RelayMessage> = {}): RelayMessage {
  return {
    id,
    target: { kind: 'broadcast' },
    destination: '/topic/docs/42',
    headers: [['content-type', 'text/plain']],
    body: Buffer.from(`body of ${id}`),
    origin: 'n1',
    sentAt: 1_700_000_000_000,
    ...extra,
  };
}

/** The History behaviour every backend shows (SPEC §11), with a fake clock (no sleeps). */
export function historyContract(name: string, makeHistory: MakeHistory): void {
  describe(`History contract: ${name}`, () => {
    const DOC = '/topic/docs/42';
    const CHAT = '/user/alice/42/queue/chat';
    let fixture: HistoryFixture | undefined;
    let clock = 0;

    async function open(limits: Partial<HistoryLimits> = {}): Promise<readonly [History, History]> {
      clock = 1_700_000_000_000;
      fixture = await makeHistory(
        { size: 100, ttlMs: 60_000, metaTtlMs: 3_600_000, ...limits },
        () => clock,
        (ms) => void (clock += ms),
      );
      return fixture.histories;
    }

    async function appendAll(h: History, stream: string, ids: readonly string[]): Promise<StreamPosition[]> {
      const out: StreamPosition[] = [];
      for (const id of ids) out.push(await h.append(stream, streamMessage(id)));
      return out;
    }

    const ids = (entries: readonly { message: RelayMessage }[]): string[] => entries.map((e) => e.message.id);
    const offsets = (entries: readonly { offset: number }[]): number[] => entries.map((e) => e.offset);

    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });

    it('starts a stream at offset 0 with an epoch that its appends keep, numbering them 1, 2, 3', async () => {
      const [h] = await open();
      const start = await h.position(DOC);
      expect(start.offset).to.equal(0);
      expect(start.epoch).to.be.a('string').and.not.equal('');
      const positions = await appendAll(h, DOC, ['a', 'b', 'c']);
      expect(positions).to.deep.equal([1, 2, 3].map((offset) => ({ epoch: start.epoch, offset })));
      expect(await h.position(DOC)).to.deep.equal({ epoch: start.epoch, offset: 3 });
    });

    it('gives concurrent appends from two nodes distinct, consecutive offsets, kept in that order', async () => {
      const [a, b] = await open();
      const appends = Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).append(DOC, streamMessage(`m${i}`)));
      const positions = await Promise.all(appends);
      expect(new Set(positions.map((p) => p.epoch)).size).to.equal(1);
      expect(positions.map((p) => p.offset).sort((x, y) => x - y)).to.deep.equal(
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      const epoch = positions[0]!.epoch;
      const recovery = await a.since(DOC, epoch, 0);
      expect(recovery.recovered).to.equal(true);
      if (!recovery.recovered) return;
      // Each message sits at the offset its append was given.
      const byId = new Map(positions.map((p, i) => [`m${i}`, p.offset]));
      expect(recovery.messages.map((e) => byId.get(e.message.id))).to.deep.equal(offsets(recovery.messages));
      expect(offsets(recovery.messages)).to.deep.equal(Array.from({ length: 40 }, (_, i) => i + 1));
    });

    it("numbers one node's appends in the order it made them, even when made at once", async () => {
      const [h] = await open();
      const positions = await Promise.all(Array.from({ length: 30 }, (_, i) => h.append(DOC, streamMessage(`m${i}`))));
      expect(positions.map((p) => p.offset)).to.deep.equal(Array.from({ length: 30 }, (_, i) => i + 1));
      const recovery = await h.since(DOC, positions[0]!.epoch, 0);
      expect(recovery.recovered && ids(recovery.messages)).to.deep.equal(Array.from({ length: 30 }, (_, i) => `m${i}`));
    });

    it("gives a message id it still keeps its first offset again, from any node and in one batch, and keeps it once (a sender's re-send)", async () => {
      const [a, b] = await open({ size: 3 });
      const [first] = await appendAll(a, CHAT, ['x']);
      // Again from the other node, and twice within one batch of appends made at once.
      const again = await Promise.all([
        b.append(CHAT, streamMessage('x')),
        a.append(CHAT, streamMessage('y')),
        a.append(CHAT, streamMessage('y')),
      ]);
      expect(again.map((p) => p.offset)).to.deep.equal([first!.offset, 2, 2]);
      expect(await a.position(CHAT)).to.deep.equal({ epoch: first!.epoch, offset: 2 });
      const recovery = await b.since(CHAT, first!.epoch, 0);
      expect(recovery.recovered && ids(recovery.messages)).to.deep.equal(['x', 'y']);
      // Once it left the history (past size), the id is new again.
      await appendAll(a, CHAT, ['z', 'w']);
      expect((await a.append(CHAT, streamMessage('x'))).offset).to.equal(5);
    });

    it('recovers every message after an offset, in order, as appended (headers, binary body)', async () => {
      const [h, other] = await open();
      const { epoch } = await h.position(DOC);
      await appendAll(h, DOC, ['1', '2']);
      const body = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x00, 0xe2, 0x82, 0xac]);
      const special = streamMessage('3', {
        target: { kind: 'user', user: 'alice' },
        destination: '/42/queue/chat',
        headers: [
          ['content-type', 'application/octet-stream'],
          ['x-note', 'a:b\\c €'],
          ['x-note', 'second'],
        ],
        body,
        redelivered: true,
      });
      await h.append(DOC, special);
      await appendAll(h, DOC, ['4']);
      const recovery = await other.since(DOC, epoch, 1);
      expect(recovery).to.have.property('recovered', true);
      if (!recovery.recovered) return;
      expect(recovery.position).to.deep.equal({ epoch, offset: 4 });
      expect(offsets(recovery.messages)).to.deep.equal([2, 3, 4]);
      expect(ids(recovery.messages)).to.deep.equal(['2', '3', '4']);
      expect(recovery.messages[1]?.message).to.deep.equal(special);
      expect(Buffer.isBuffer(recovery.messages[1]?.message.body)).to.equal(true);
    });

    it('recovers nothing to deliver, and says so, for a client that is up to date', async () => {
      const [h] = await open();
      const [, last] = await appendAll(h, DOC, ['1', '2']);
      expect(await h.since(DOC, last!.epoch, 2)).to.deep.equal({ recovered: true, position: last, messages: [] });
    });

    it('does not recover another epoch, an offset ahead of the stream or a negative one, and answers where the stream stands', async () => {
      const [h] = await open();
      const [, last] = await appendAll(h, DOC, ['1', '2']);
      for (const [epoch, offset] of [
        ['not-the-epoch', 1],
        [last!.epoch, 3],
        [last!.epoch, -1],
        [last!.epoch, 1.5],
      ] as const) {
        expect(await h.since(DOC, epoch, offset), `${epoch} ${offset}`).to.deep.equal({
          recovered: false,
          position: last,
        });
      }
    });

    it('keeps at most size messages per stream: a resume from before them is not recovered, never partial', async () => {
      const [h] = await open({ size: 3 });
      const [first] = await appendAll(h, DOC, ['1', '2', '3', '4', '5']);
      const epoch = first!.epoch;
      const from2 = await h.since(DOC, epoch, 2);
      expect(from2.recovered).to.equal(true);
      if (from2.recovered) expect(ids(from2.messages)).to.deep.equal(['3', '4', '5']);
      expect(await h.since(DOC, epoch, 1)).to.deep.equal({ recovered: false, position: { epoch, offset: 5 } });
      expect(await h.since(DOC, epoch, 0)).to.have.property('recovered', false);
      expect(offsets(await h.range(DOC, epoch, 1, 5))).to.deep.equal([3, 4, 5]);
    });

    it('forgets messages ttlMs after their append, but still recovers a client that had them all', async () => {
      const [h] = await open({ ttlMs: 60_000 });
      const [first] = await appendAll(h, DOC, ['old']);
      clock += 30_000;
      await appendAll(h, DOC, ['newer']);
      const epoch = first!.epoch;
      clock += 30_000; // 'old' is exactly ttlMs old now
      expect(await h.since(DOC, epoch, 0)).to.have.property('recovered', false);
      const from1 = await h.since(DOC, epoch, 1);
      expect(from1.recovered).to.equal(true);
      if (from1.recovered) expect(ids(from1.messages)).to.deep.equal(['newer']);
      clock += 30_000;
      expect(await h.since(DOC, epoch, 1)).to.have.property('recovered', false);
      expect(await h.range(DOC, epoch, 1, 2)).to.deep.equal([]);
      // Up to date despite an empty history: nothing was missed.
      expect(await h.since(DOC, epoch, 2)).to.deep.equal({
        recovered: true,
        position: { epoch, offset: 2 },
        messages: [],
      });
    });

    it('starts a lost stream over with a new epoch: the old epoch is not recovered and offsets restart at 1', async () => {
      const [h] = await open();
      const [, old] = await appendAll(h, DOC, ['1', '2']);
      await fixture!.lose(DOC);
      const fresh = await h.position(DOC);
      expect(fresh.epoch).to.not.equal(old!.epoch);
      expect(fresh.offset).to.equal(0);
      expect(await h.since(DOC, old!.epoch, 2)).to.deep.equal({ recovered: false, position: fresh });
      expect(await h.append(DOC, streamMessage('3'))).to.deep.equal({ epoch: fresh.epoch, offset: 1 });
      const recovery = await h.since(DOC, fresh.epoch, 0);
      expect(recovery.recovered && ids(recovery.messages)).to.deep.equal(['3']);
      expect(await h.range(DOC, old!.epoch, 1, 2)).to.deep.equal([]);
    });

    it('gives a resume of a stream it never saw a new epoch, not recovered', async () => {
      const [h] = await open();
      const recovery = await h.since(DOC, 'some-old-epoch', 7);
      expect(recovery.recovered).to.equal(false);
      expect(recovery.position.offset).to.equal(0);
      expect(await h.position(DOC)).to.deep.equal(recovery.position);
    });

    it('reads a range for a gap fill: kept offsets of the epoch only, clipped to the stream', async () => {
      const [h] = await open({ size: 4 });
      const [first] = await appendAll(h, DOC, ['1', '2', '3', '4', '5', '6']);
      const epoch = first!.epoch;
      expect(offsets(await h.range(DOC, epoch, 4, 5))).to.deep.equal([4, 5]);
      expect(ids(await h.range(DOC, epoch, 0, 100))).to.deep.equal(['3', '4', '5', '6']);
      expect(await h.range(DOC, epoch, 5, 4)).to.deep.equal([]);
      expect(await h.range(DOC, 'other', 3, 6)).to.deep.equal([]);
      expect(await h.range('/topic/never', epoch, 1, 3)).to.deep.equal([]);
    });

    it('keeps streams apart, including ids with separators and braces', async () => {
      const [h] = await open();
      const odd = '/user/a%3Ab%7B%7D/queue/x';
      await appendAll(h, DOC, ['d1', 'd2']);
      await appendAll(h, CHAT, ['c1']);
      await appendAll(h, odd, ['o1']);
      await appendAll(h, '/user/a/queue/x', ['p1']);
      const doc = await h.position(DOC);
      const chat = await h.position(CHAT);
      expect([doc.offset, chat.offset]).to.deep.equal([2, 1]);
      const recovery = await h.since(odd, (await h.position(odd)).epoch, 0);
      expect(recovery.recovered && ids(recovery.messages)).to.deep.equal(['o1']);
      expect(ids(await h.range(CHAT, chat.epoch, 1, 5))).to.deep.equal(['c1']);
    });
  });
}
