import { expect } from 'chai';
import { header } from '../../protocol/index.js';
import { InboundPacer, type PacedReader } from '../../server/transport/inbound-pacer.js';
import { connectRaw, type RawSocket } from '../helpers/raw-socket.js';
import { startNode } from '../helpers/start-node.js';
import { waitFor } from '../helpers/wait.js';

/** Holds the thread for `ms`, as a frame's handling does. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spinning
  }
}

/** A reader that logs what it is told, each message costing `costMs` of the thread. */
function reader(name: string, log: string[], costMs: number): PacedReader & { paused: boolean } {
  return {
    paused: false,
    readChunk(chunk) {
      busy(costMs);
      log.push(`${name}:${chunk.toString()}`);
    },
    pauseReading() {
      expect(this.paused, `${name} paused twice`).to.equal(false);
      this.paused = true;
      log.push(`${name} paused`);
    },
    resumeReading() {
      expect(this.paused, `${name} resumed while reading`).to.equal(true);
      this.paused = false;
      log.push(`${name} resumed`);
    },
  };
}

const read = (log: string[]) => log.filter((e) => e.includes(':'));

describe('InboundPacer (a burst of inbound frames spread over turns of the event loop)', () => {
  it('handles a message at once while the turn has time left, and again in a later turn', async function () {
    const log: string[] = [];
    const pacer = new InboundPacer({ waited: () => log.push('waits') }, 5);
    const a = reader('a', log, 6);
    pacer.take(a, Buffer.from('1'));
    expect(log).to.deep.equal(['a:1']);
    pacer.take(a, Buffer.from('2')); // the turn's 5 ms are spent
    expect(log).to.deep.equal(['a:1', 'a paused', 'waits']);
    await waitFor(() => pacer.backlog === 0, 'the queue to be worked through', 5000);
    await new Promise((r) => setTimeout(r, 5));
    pacer.take(a, Buffer.from('3'));
    expect(read(log), 'a later turn has a budget of its own').to.deep.equal(['a:1', 'a:2', 'a:3']);
  });

  it('past the budget, queues messages in order, pauses their readers, and lets timers run between slices', async function () {
    const log: string[] = [];
    let waited = 0;
    const pacer = new InboundPacer({ waited: () => waited++ }, 5);
    const readers = ['a', 'b', 'c', 'd'].map((n) => reader(n, log, 2));
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = readers[i % 4]!;
      pacer.take(r, Buffer.from(String(i)));
      sent.push(`${'abcd'[i % 4]}:${i}`);
    }
    // 2 ms a message (or more, on a busy machine) against 5 ms a turn: at most three now, the rest later.
    const now = read(log).length;
    expect(now).to.be.within(1, 3);
    expect(read(log)).to.deep.equal(sent.slice(0, now));
    expect(waited).to.equal(20 - now);
    expect(pacer.backlog).to.equal(20 - now);
    expect(readers.every((r) => r.paused)).to.equal(true);
    // A timer set once the queue is being worked through runs before it is done.
    let readWhenTimerRan = -1;
    setImmediate(() => setTimeout(() => (readWhenTimerRan = read(log).length), 0));

    await waitFor(() => pacer.backlog === 0, 'the queue to be worked through', 5000);
    expect(read(log), 'every message once, in the order taken').to.deep.equal(sent);
    expect(readWhenTimerRan, 'the timer ran between slices').to.be.within(now + 1, 19);
    expect(readers.some((r) => r.paused)).to.equal(false);
    // Each reader is resumed once its last message was handled: what it sends next comes after.
    for (const n of ['a', 'b', 'c', 'd']) {
      const mine = log.filter((e) => e.startsWith(n));
      expect(mine.indexOf(`${n} resumed`)).to.equal(mine.length - 1);
    }
  });

  it('keeps the order when a resumed reader hands over what it held at once (as SockJS does)', async function () {
    const log: string[] = [];
    const pacer = new InboundPacer({ failed: (err) => log.push(`failed ${String(err)}`) }, 5);
    const held: Buffer[] = [];
    const base = reader('s', log, 6);
    const sockjs: PacedReader = {
      readChunk: (chunk) => base.readChunk(chunk),
      pauseReading: () => base.pauseReading(),
      resumeReading() {
        base.resumeReading();
        for (const chunk of held.splice(0)) pacer.take(sockjs, chunk);
      },
    };
    pacer.take(sockjs, Buffer.from('1'));
    pacer.take(sockjs, Buffer.from('2')); // waits: the transport holds the next ones meanwhile
    held.push(Buffer.from('3'), Buffer.from('4'));
    await waitFor(() => read(log).length === 4, 'every message', 5000).catch(() => undefined);
    expect(log).to.deep.equal(['s:1', 's paused', 's:2', 's resumed', 's:3', 's paused', 's:4', 's resumed']);
    expect(held).to.deep.equal([]);
  });

  it('a message that arrives while others wait waits behind them, even in a fresh turn', async function () {
    const log: string[] = [];
    const pacer = new InboundPacer({}, 5);
    const a = reader('a', log, 3);
    const b = reader('b', log, 0);
    for (let i = 0; i < 6; i++) pacer.take(a, Buffer.from(String(i)));
    await new Promise((r) => setTimeout(r, 0));
    expect(pacer.backlog, 'still working through the burst').to.be.greaterThan(0);
    pacer.take(b, Buffer.from('late'));
    expect(read(log)).to.not.include('b:late');
    await waitFor(() => pacer.backlog === 0, 'the queue to be worked through', 5000);
    expect(read(log)).to.deep.equal(['a:0', 'a:1', 'a:2', 'a:3', 'a:4', 'a:5', 'b:late']);
  });

  it('runs other work (an upgrade) in the same order as the messages around it', async function () {
    const log: string[] = [];
    const pacer = new InboundPacer({}, 5);
    const a = reader('a', log, 6);
    pacer.take(a, Buffer.from('0'));
    pacer.take(a, Buffer.from('1'));
    pacer.run(() => log.push('upgrade:x'));
    pacer.take(a, Buffer.from('2'));
    expect(read(log)).to.deep.equal(['a:0']);
    await waitFor(() => pacer.backlog === 0, 'the queue to be worked through', 5000);
    expect(read(log)).to.deep.equal(['a:0', 'a:1', 'upgrade:x', 'a:2']);
  });

  it("hands a closing reader its waiting messages at once, in order, and the others' stay in the queue", async function () {
    const log: string[] = [];
    const pacer = new InboundPacer({}, 5);
    const a = reader('a', log, 6);
    const b = reader('b', log, 0);
    const c = reader('c', log, 0);
    pacer.take(a, Buffer.from('0'));
    pacer.take(b, Buffer.from('1'));
    pacer.take(c, Buffer.from('2'));
    pacer.take(b, Buffer.from('3'));
    pacer.flush(b);
    expect(read(log)).to.deep.equal(['a:0', 'b:1', 'b:3']);
    expect(pacer.waits(b)).to.equal(false);
    await waitFor(() => pacer.backlog === 0, 'the queue to be worked through', 5000);
    expect(read(log)).to.deep.equal(['a:0', 'b:1', 'b:3', 'c:2']);
    expect(
      log.filter((e) => e === 'b resumed'),
      'a closed reader is not resumed',
    ).to.deep.equal([]);
  });

  it('work that throws while the queue is worked through is reported, and the rest goes on', async function () {
    const log: string[] = [];
    const failed: string[] = [];
    const pacer = new InboundPacer({ failed: (err) => failed.push(String(err)) }, 1);
    const bad: PacedReader = {
      readChunk() {
        throw new Error('boom');
      },
      pauseReading() {},
      resumeReading() {
        throw new Error('resume failed');
      },
    };
    const good = reader('good', log, 2);
    pacer.take(good, Buffer.from('0')); // spends the turn: the rest waits
    pacer.take(bad, Buffer.from('x'));
    pacer.take(good, Buffer.from('1'));
    await waitFor(() => pacer.backlog === 0, 'the queue to be worked through', 5000);
    await waitFor(() => read(log).length === 2, 'the good reader', 5000);
    expect(read(log)).to.deep.equal(['good:0', 'good:1']);
    expect(failed).to.deep.equal(['Error: boom', 'Error: resume failed']);
  });
});

describe('a node under a burst of inbound frames', () => {
  it('answers every frame of every session in order, and its sessions still receive, when the burst waits for later turns', async function () {
    this.timeout(60_000);
    const n = await startNode();
    const sockets: RawSocket[] = [];
    try {
      // Upgrades and CONNECTs at once: part of them wait for later turns too.
      sockets.push(...(await Promise.all(Array.from({ length: 150 }, (_, i) => connectRaw(n.url, `burst-${i}`)))));
      const paced = async () =>
        Number(/^stomp_inbound_paced_total (\S+)$/m.exec(await (await fetch(`${n.http}/metrics`)).text())?.[1]);
      const before = await paced();
      // Every session at once: 30 SUBSCRIBEs with receipts, a WebSocket message each.
      for (const s of sockets)
        for (let k = 0; k < 30; k++) s.send(`SUBSCRIBE\nid:${k}\ndestination:/topic/burst/${k}\nreceipt:r${k}\n\n\0`);
      const expected = Array.from({ length: 30 }, (_, k) => `r${k}`);
      for (const s of sockets) {
        const ids: string[] = [];
        for (let k = 0; k < 30; k++) ids.push(header(await s.next('RECEIPT', 20_000), 'receipt-id') ?? '');
        expect(ids).to.deep.equal(expected);
      }
      expect(await paced(), 'part of the burst waited for a later turn').to.be.greaterThan(before);
      // Paused and resumed: every session is read again, and receives.
      sockets.forEach((s, i) => s.send(`SEND\ndestination:/topic/burst/29\nreceipt:sent-${i}\n\nafter ${i}\0`));
      for (const [i, s] of sockets.entries())
        expect(header(await s.next('RECEIPT', 10_000), 'receipt-id')).to.equal(`sent-${i}`);
      for (const s of sockets) expect((await s.next('MESSAGE', 10_000)).body.toString()).to.match(/^after \d+$/);
    } finally {
      for (const s of sockets) s.close();
      await n.stop();
    }
  });

  it('handles what a client sent before it closed, also when it was waiting for its turn', async function () {
    this.timeout(60_000);
    const n = await startNode();
    const sockets: RawSocket[] = [];
    try {
      const observer = await connectRaw(n.url, 'observer');
      observer.send('SUBSCRIBE\nid:1\ndestination:/topic/last-words\nreceipt:ready\n\n\0');
      await observer.next('RECEIPT');
      sockets.push(...(await Promise.all(Array.from({ length: 150 }, (_, i) => connectRaw(n.url, `leaving-${i}`)))));
      // A burst, then each session's last SEND, and the close right behind it.
      sockets.forEach((s, i) => {
        for (let k = 0; k < 30; k++) s.send(`SUBSCRIBE\nid:${k}\ndestination:/topic/burst/${k}\n\n\0`);
        s.send(`SEND\ndestination:/topic/last-words\n\nbye ${i}\0`);
        s.close();
      });
      const bodies = new Set<string>();
      for (let i = 0; i < 150; i++) bodies.add((await observer.next('MESSAGE', 20_000)).body.toString());
      expect(bodies.size).to.equal(150);
      observer.close();
    } finally {
      await n.stop();
    }
  });
});
