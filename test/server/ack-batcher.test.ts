import { expect } from 'chai';
import { AckBatcher } from '../../server/broker/ack-batcher.js';

/** What RabbitMQ would be told, in order: `basic.ack` frames with their delivery tag and `multiple` flag. */
function recorder() {
  const frames: string[] = [];
  let pendingFlush: (() => void) | undefined;
  const batcher = new AckBatcher<number>(
    { ack: (tag, allUpTo) => frames.push(`${tag}${allUpTo ? '*' : ''}`) },
    3,
    (f) => (pendingFlush = f),
  );
  const turn = (): void => {
    const f = pendingFlush;
    pendingFlush = undefined;
    f?.();
  };
  return { frames, batcher, turn };
}

/** Which tags an ack sequence settles, given the tags delivered (RabbitMQ's `multiple` semantics). */
function settledBy(frames: readonly string[], delivered: readonly number[]): number[] {
  const out = new Set<number>();
  for (const f of frames) {
    const tag = Number.parseInt(f, 10);
    if (f.endsWith('*')) for (const t of delivered) if (t <= tag) out.add(t);
    if (!f.endsWith('*')) out.add(tag);
  }
  return [...out].sort((a, b) => a - b);
}

describe('AckBatcher (RabbitMQ acks, batched)', () => {
  it('acks every delivery finished in one turn with a single multiple-ack', () => {
    const { frames, batcher, turn } = recorder();
    const handles = [1, 2, 3, 4].map((t) => batcher.delivered(t));
    for (const h of handles) batcher.done(h);
    expect(frames).to.deep.equal([]);
    turn();
    expect(frames).to.deep.equal(['4*']);
  });

  it('never acks past a delivery whose handler still runs, and acks it all once it finished', () => {
    const { frames, batcher, turn } = recorder();
    const [h1, h2, h3] = [1, 2, 3].map((t) => batcher.delivered(t)) as [
      ReturnType<typeof batcher.delivered>,
      ReturnType<typeof batcher.delivered>,
      ReturnType<typeof batcher.delivered>,
    ];
    batcher.done(h1);
    batcher.done(h3);
    turn();
    expect(frames).to.deep.equal(['1*']);
    batcher.done(h2);
    turn();
    expect(frames).to.deep.equal(['1*', '3*']);
    expect(settledBy(frames, [1, 2, 3])).to.deep.equal([1, 2, 3]);
  });

  it('steps over a delivery that was nacked on its own', () => {
    const { frames, batcher, turn } = recorder();
    const h = [1, 2, 3].map((t) => batcher.delivered(t));
    batcher.settled(h[0]!); // nacked by the broker code itself
    batcher.done(h[1]!);
    batcher.done(h[2]!);
    turn();
    expect(frames).to.deep.equal(['3*']);
  });

  it('acks one by one once too many wait behind a stuck handler, so the prefetch window never fills', () => {
    const { frames, batcher, turn } = recorder();
    const h = [1, 2, 3, 4, 5, 6].map((t) => batcher.delivered(t));
    for (const x of h.slice(1, 4)) batcher.done(x);
    turn();
    expect(frames, 'three held back: not over the limit of 3').to.deep.equal([]);
    batcher.done(h[4]!);
    turn();
    expect(frames).to.deep.equal(['2', '3', '4', '5']);
    batcher.done(h[0]!);
    batcher.done(h[5]!);
    turn();
    // Tag 1 then covers 1..6 with `multiple`: 2–5 are no longer outstanding, so nothing is acked twice.
    expect(frames.slice(4)).to.deep.equal(['6*']);
    expect(settledBy(frames, [1, 2, 3, 4, 5, 6])).to.deep.equal([1, 2, 3, 4, 5, 6]);
  });

  it('before the channel closes, also acks what finished behind a handler that still runs, so it does not come back', () => {
    const { frames, batcher, turn } = recorder();
    const h = [1, 2, 3].map((t) => batcher.delivered(t));
    batcher.done(h[1]!);
    batcher.done(h[2]!);
    turn();
    expect(frames, 'held behind tag 1').to.deep.equal([]);
    batcher.flush(true);
    expect(frames).to.deep.equal(['2', '3']);
    expect(settledBy(frames, [1, 2, 3]), 'tag 1 stays unacked: RabbitMQ redelivers it').to.deep.equal([2, 3]);
  });

  it('flush() sends what is due at once (before a channel closes)', () => {
    const { frames, batcher } = recorder();
    batcher.done(batcher.delivered(7));
    batcher.flush();
    expect(frames).to.deep.equal(['7*']);
  });
});
