import { expect } from 'chai';
import fc from 'fast-check';
import {
  OffsetGate,
  type GateDropReason,
  type OffsetGateOptions,
  type Sequenced,
} from '../../server/history/offset-gate.js';

const E = '000000001aaaaaa';
const NEWER = '000000002bbbbbb';
const OLDER = '000000000cccccc';

function gate(options: Partial<OffsetGateOptions> = {}) {
  const dropped: [GateDropReason, number][] = [];
  const skipped: number[] = [];
  const g = new OffsetGate<string>({
    holdMs: 100,
    maxHeld: 50,
    onDropped: (reason, offset) => dropped.push([reason, offset]),
    onSkipped: (n) => skipped.push(n),
    ...options,
  });
  return { g, dropped, skipped };
}

const seq = (...offsets: number[]): Sequenced<string>[] => offsets.map((offset) => ({ offset, item: `m${offset}` }));

describe('offset gate', () => {
  it('delivers the offsets after its starting position in order, one by one', () => {
    const { g, dropped } = gate();
    expect(g.begin({ epoch: E, offset: 5 }, [])).to.deep.equal([]);
    expect(g.offer(E, 6, 'm6', 1)).to.deep.equal(['m6']);
    expect(g.offer(E, 7, 'm7', 2)).to.deep.equal(['m7']);
    expect(g.position).to.deep.equal({ epoch: E, offset: 7 });
    expect(dropped).to.deep.equal([]);
  });

  it('drops, and counts, a copy whose offset was passed or is already held', () => {
    const { g, dropped } = gate();
    g.begin({ epoch: E, offset: 5 }, []);
    expect(g.offer(E, 5, 'm5', 1)).to.deep.equal([]);
    expect(g.offer(E, 6, 'm6', 1)).to.deep.equal(['m6']);
    expect(g.offer(E, 6, 'm6 again', 1)).to.deep.equal([]);
    expect(g.offer(E, 8, 'm8', 1)).to.deep.equal([]);
    expect(g.offer(E, 8, 'm8 again', 1)).to.deep.equal([]);
    expect(dropped).to.deep.equal([
      ['duplicate', 5],
      ['duplicate', 6],
      ['duplicate', 8],
    ]);
    expect(g.offer(E, 7, 'm7', 2)).to.deep.equal(['m7', 'm8']);
  });

  it('holds n+2 until n+1 arrives, then delivers both in order', () => {
    const { g } = gate({ holdMs: 100 });
    g.begin({ epoch: E, offset: 0 }, []);
    expect(g.offer(E, 1, 'm1', 10)).to.deep.equal(['m1']);
    expect(g.wakeAt).to.equal(undefined);
    expect(g.offer(E, 3, 'm3', 20)).to.deep.equal([]);
    expect(g.offer(E, 4, 'm4', 30)).to.deep.equal([]);
    expect(g.holding).to.equal(2);
    expect(g.wakeAt).to.equal(120);
    expect(g.gapFill(119)).to.equal(undefined);
    expect(g.offer(E, 2, 'm2', 40)).to.deep.equal(['m2', 'm3', 'm4']);
    expect(g.wakeAt).to.equal(undefined);
    expect(g.holding).to.equal(0);
  });

  it('after holdMs asks history for the gap, delivers in order, and gives up offsets the history no longer has', () => {
    const { g, skipped, dropped } = gate({ holdMs: 100 });
    g.begin({ epoch: E, offset: 10 }, []);
    g.offer(E, 14, 'm14', 5);
    g.offer(E, 16, 'm16', 6);
    g.offer(E, 19, 'm19', 7);
    const fill = g.gapFill(105);
    expect(fill).to.deep.equal({ epoch: E, from: 11, to: 18 });
    expect(g.wakeAt, 'one fill at a time').to.equal(undefined);
    expect(g.gapFill(200)).to.equal(undefined);
    // 11 and 12 left the history; 15 arrives live while the read is in flight.
    expect(g.offer(E, 15, 'm15', 150)).to.deep.equal([]);
    expect(g.filled(fill!, seq(13, 14, 16, 17, 18))).to.deep.equal(['m13', 'm14', 'm15', 'm16', 'm17', 'm18', 'm19']);
    expect(skipped).to.deep.equal([2]);
    expect(g.position).to.deep.equal({ epoch: E, offset: 19 });
    // A late live copy of a given-up offset is not delivered out of order.
    expect(g.offer(E, 11, 'm11', 300)).to.deep.equal([]);
    expect(dropped).to.deep.equal([['duplicate', 11]]);
  });

  it('delivers what it holds when the gap fill fails', () => {
    const { g, skipped } = gate({ holdMs: 0 });
    g.begin({ epoch: E, offset: 0 }, []);
    g.offer(E, 3, 'm3', 1);
    const fill = g.gapFill(1)!;
    expect(g.filled(fill, [])).to.deep.equal(['m3']);
    expect(skipped).to.deep.equal([2]);
  });

  it('ignores an answer to a fill it no longer waits for', () => {
    const { g } = gate({ holdMs: 0 });
    g.begin({ epoch: E, offset: 0 }, []);
    g.offer(E, 2, 'm2', 0);
    const fill = g.gapFill(0)!;
    g.filled(fill, seq(1));
    expect(g.filled(fill, seq(1))).to.deep.equal([]);
    expect(g.position).to.deep.equal({ epoch: E, offset: 2 });
  });

  it('fills at once, without waiting holdMs, once maxHeld copies are held', () => {
    const { g } = gate({ holdMs: 10_000, maxHeld: 3 });
    g.begin({ epoch: E, offset: 0 }, []);
    g.offer(E, 2, 'm2', 5);
    g.offer(E, 3, 'm3', 6);
    expect(g.wakeAt).to.equal(10_005);
    g.offer(E, 4, 'm4', 7);
    expect(g.wakeAt).to.equal(5);
    expect(g.gapFill(7)).to.deep.equal({ epoch: E, from: 1, to: 3 });
  });

  it('keeps copies that arrive during the history read, and sorts them out at begin after the replay', () => {
    const { g, dropped } = gate();
    expect(g.position).to.equal(undefined);
    expect(g.offer(E, 9, 'm9 live', 1)).to.deep.equal([]);
    expect(g.offer(E, 11, 'm11 live', 2)).to.deep.equal([]);
    expect(g.offer(E, 12, 'm12 live', 3)).to.deep.equal([]);
    expect(g.holding).to.equal(3);
    // The resume read: messages 8..11, the stream at 11.
    expect(g.begin({ epoch: E, offset: 11 }, seq(8, 9, 10, 11))).to.deep.equal(['m8', 'm9', 'm10', 'm11', 'm12 live']);
    expect(dropped).to.deep.equal([
      ['duplicate', 9],
      ['duplicate', 11],
    ]);
    expect(() => g.begin({ epoch: E, offset: 0 }, [])).to.throw(/twice/);
  });

  it('delivers a replay sorted and once per offset (an offline copy and a history copy of one message)', () => {
    const { g } = gate();
    const replay = [...seq(4, 2), { offset: 3, item: 'm3 inbox' }, { offset: 3, item: 'm3 history' }];
    expect(g.begin({ epoch: E, offset: 3 }, replay)).to.deep.equal(['m2', 'm3 inbox', 'm4']);
    expect(g.position).to.deep.equal({ epoch: E, offset: 4 });
  });

  it('follows a reset stream: delivers what it held, starts again at the new epoch, and drops copies of the older one', () => {
    const { g, dropped, skipped } = gate();
    g.begin({ epoch: E, offset: 5 }, []);
    g.offer(E, 7, 'm7', 1);
    expect(g.offer(NEWER, 1, 'n1', 2)).to.deep.equal(['m7', 'n1']);
    expect(skipped).to.deep.equal([1]);
    expect(g.position).to.deep.equal({ epoch: NEWER, offset: 1 });
    expect(g.offer(E, 8, 'm8', 3)).to.deep.equal([]);
    expect(g.offer(OLDER, 2, 'o2', 3)).to.deep.equal([]);
    expect(dropped).to.deep.equal([
      ['stale-epoch', 8],
      ['stale-epoch', 2],
    ]);
    expect(g.offer(NEWER, 3, 'n3', 4)).to.deep.equal([]);
    expect(g.gapFill(1000)).to.deep.equal({ epoch: NEWER, from: 2, to: 2 });
  });

  it('delivers every offset exactly once and in order, whatever the arrival order, duplicates and losses (gap fills from a full history)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.array(
          fc.record({ pick: fc.nat(), dupes: fc.nat({ max: 2 }), lost: fc.boolean(), later: fc.nat({ max: 300 }) }),
          { maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 20 }),
        (n, plan, maxHeld) => {
          const history = seq(...Array.from({ length: n }, (_, i) => i + 1));
          const { g } = gate({ holdMs: 50, maxHeld });
          g.begin({ epoch: E, offset: 0 }, []);
          // Arrivals: every offset once (unless lost), plus duplicates, at shuffled times.
          const arrivals: { at: number; offset: number }[] = [];
          for (let o = 1; o <= n; o++) {
            const p = plan[o % Math.max(plan.length, 1)];
            if (!p?.lost) arrivals.push({ at: o * 3 + (p?.later ?? 0), offset: o });
            for (let d = 0; d < (p?.dupes ?? 0); d++) arrivals.push({ at: (p?.pick ?? 0) % 400, offset: o });
          }
          arrivals.sort((a, b) => a.at - b.at);
          const out: string[] = [];
          const poll = (now: number) => {
            const fill = g.gapFill(now);
            if (fill)
              out.push(
                ...g.filled(
                  fill,
                  history.filter((h) => h.offset >= fill.from && h.offset <= fill.to),
                ),
              );
          };
          for (const a of arrivals) {
            poll(a.at);
            out.push(...g.offer(E, a.offset, `m${a.offset}`, a.at));
          }
          // Copies never seen at all are found by the next fill once a later one is held; the tail needs a later live copy.
          out.push(...g.offer(E, n + 1, `m${n + 1}`, 10_000));
          poll(20_000);
          expect(out).to.deep.equal(Array.from({ length: n + 1 }, (_, i) => `m${i + 1}`));
        },
      ),
      { numRuns: 300 },
    );
  });
});
