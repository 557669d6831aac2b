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
  it('handles a message at once while the turn has time left', function () {
    const log: string[] = [];
    const pacer = new InboundPacer(() => log.push('waits'), 50);
    pacer.take(reader('a', log, 0), Buffer.from('1'));
    expect(log).to.deep.equal(['a:1']);
    expect(pacer.backlog).to.equal(0);
  });

  it('past the budget, queues messages in order, pauses their readers, and lets timers run between slices', async function () {
    const log: string[] = [];
    let waited = 0;
    const pacer = new InboundPacer(() => waited++, 5);
    const readers = ['a', 'b', 'c', 'd'].map((n) => reader(n, log, 2));
    let readWhenTimerRan = -1;
    setTimeout(() => (readWhenTimerRan = read(log).length), 0);
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = readers[i % 4]!;
      pacer.take(r, Buffer.from(String(i)));
      sent.push(`${'abcd'[i % 4]}:${i}`);
    }
    // 2 ms a message against 5 ms a turn: three now, the rest later.
    expect(read(log)).to.deep.equal(sent.slice(0, 3));
    expect(waited).to.equal(17);
    expect(pacer.backlog).to.equal(17);
    expect(readers.every((r) => r.paused)).to.equal(true);

    await waitFor(() => pacer.backlog === 0, 'the queue to be worked through', 5000);
    expect(read(log), 'every message once, in the order taken').to.deep.equal(sent);
    expect(readWhenTimerRan, 'the timer ran while the queue was worked through').to.be.within(3, 19);
    expect(readers.some((r) => r.paused)).to.equal(false);
    // Each reader is resumed before its last message is handed over: its next arrives after it.
    for (const n of ['a', 'b', 'c', 'd']) {
      const mine = log.filter((e) => e.startsWith(n));
      expect(mine.indexOf(`${n} resumed`)).to.equal(mine.length - 2);
    }
  });

  it('a message that arrives while others wait waits behind them, even in a fresh turn', async function () {
    const log: string[] = [];
    const pacer = new InboundPacer(() => {}, 5);
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
    const pacer = new InboundPacer(() => {}, 5);
    const a = reader('a', log, 3);
    pacer.take(a, Buffer.from('0'));
    pacer.take(a, Buffer.from('1'));
    pacer.run(() => log.push('upgrade:x'));
    pacer.take(a, Buffer.from('2'));
    expect(read(log)).to.deep.equal(['a:0', 'a:1']);
    await waitFor(() => pacer.backlog === 0, 'the queue to be worked through', 5000);
    expect(read(log)).to.deep.equal(['a:0', 'a:1', 'upgrade:x', 'a:2']);
  });

  it('a reader that throws while the queue is worked through does not stop the others', async function () {
    const log: string[] = [];
    const pacer = new InboundPacer(() => {}, 1);
    const bad: PacedReader = {
      readChunk() {
        busy(2);
        throw new Error('boom');
      },
      pauseReading() {},
      resumeReading() {},
    };
    const good = reader('good', log, 2);
    pacer.take(good, Buffer.from('0')); // spends the turn: the rest waits
    pacer.take(bad, Buffer.from('x'));
    pacer.take(bad, Buffer.from('y'));
    pacer.take(good, Buffer.from('1'));
    await waitFor(() => pacer.backlog === 0, 'the queue to be worked through', 5000);
    expect(read(log)).to.deep.equal(['good:0', 'good:1']);
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
      // Every session at once: 30 SUBSCRIBEs with receipts in one WebSocket message each.
      for (const s of sockets) {
        let burst = '';
        for (let k = 0; k < 30; k++) burst += `SUBSCRIBE\nid:${k}\ndestination:/topic/burst/${k}\nreceipt:r${k}\n\n\0`;
        s.send(burst);
      }
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
});
