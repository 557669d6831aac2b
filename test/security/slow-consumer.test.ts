import { expect } from 'chai';
import { header } from '../../protocol/index.js';
import { openTcpWebSocket, type TcpWebSocket } from '../helpers/raw-tcp.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient, type TestClient } from '../helpers/stomp-client.js';
import { waitFor } from '../helpers/wait.js';

const MAX_OUTBOUND_BYTES = 64 * 1024;
const BODY_BYTES = 8 * 1024;
/** At most 12 MiB: several times what loopback's kernel buffers (send + receive) can absorb. */
const MAX_MESSAGES = 1500;
/** Messages published after the cut-off, to see the normal subscriber carry on unaffected. */
const AFTER_CUT = 300;
/**
 * The publisher runs at most this many messages ahead of the normal subscriber. It waits for the
 * subscriber, not for RECEIPTs: a RECEIPT waits until every local subscriber's socket took the
 * message, the stalled one included (see the pending test below).
 */
const WINDOW = 20;

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function metric(n: StartedNode, name: 'connections' | 'sessions' | 'subscriptions'): Promise<number> {
  return (await n.node.metrics[name].get()).values[0]?.value ?? 0;
}

async function slowConsumerErrors(n: StartedNode): Promise<number> {
  return (await n.node.metrics.errors.get()).values.find((v) => v.labels.code === 'SLOW_CONSUMER')?.value ?? 0;
}

describe('slow consumer (MAX_OUTBOUND_BYTES)', function () {
  this.timeout(60_000);
  let n: StartedNode;
  let fast: TestClient;
  let publisher: TestClient;
  let slow: TcpWebSocket;

  before(async () => {
    n = await startNode({ MAX_OUTBOUND_BYTES: String(MAX_OUTBOUND_BYTES), MAX_FRAMES_PER_SECOND: '100000' });
  });
  after(async () => {
    slow?.destroy();
    await fast?.disconnect();
    await publisher?.disconnect();
    await n.stop();
  });

  it('cuts off a client that stopped reading while a normal subscriber of the same topic keeps receiving everything, quickly', async () => {
    // The stalled client: a hand-made WebSocket over TCP that subscribes, then never reads again.
    slow = await openTcpWebSocket(n.port);
    slow.sendStomp('CONNECT\naccept-version:1.2\nheart-beat:0,0\nlogin:stalled-phone\n\n\0');
    await slow.next('CONNECTED');
    slow.sendStomp('SUBSCRIBE\nid:s\ndestination:/topic/stream\nreceipt:subscribed\n\n\0');
    expect(header(await slow.next('RECEIPT'), 'receipt-id')).to.equal('subscribed');
    slow.socket.pause();
    const readBeforePause = slow.bytesIn;

    fast = await connectClient(n.url, { login: 'reader' });
    publisher = await connectClient(n.url, { login: 'publisher' });
    const latencies: number[] = [];
    const seen: number[] = [];
    fast.client.subscribe(
      '/topic/stream',
      (m) => {
        const [seq, sentAt] = m.body.slice(0, 40).split(':').map(Number);
        latencies.push(Date.now() - sentAt!);
        seen.push(seq!);
      },
      { receipt: 'fast-sub' },
    );
    await fast.sendWithReceipt('/topic/none', ''); // orders after the SUBSCRIBE
    const connectionsBefore = await metric(n, 'connections');
    expect(connectionsBefore).to.equal(3);
    expect(await slowConsumerErrors(n)).to.equal(0);

    const padding = 'x'.repeat(BODY_BYTES);
    let cutAt = -1;
    let published = 0;
    for (let i = 0; i < MAX_MESSAGES && (cutAt < 0 || i <= cutAt + AFTER_CUT); i++) {
      if (i - seen.length >= WINDOW)
        await waitFor(() => i - seen.length < WINDOW, 'the normal subscriber to keep up', 10_000, 1);
      publisher.send('/topic/stream', `${i}:${Date.now()}:${padding}`);
      published++;
      if (cutAt < 0 && (await slowConsumerErrors(n)) > 0) cutAt = i;
    }
    await waitFor(() => seen.length >= published, `all ${published} messages at the normal subscriber`, 30_000);

    // The stalled session is gone on the server: counted as SLOW_CONSUMER, one connection fewer.
    expect(await slowConsumerErrors(n)).to.equal(1);
    expect(cutAt, 'cut off before the stream ended').to.be.within(0, MAX_MESSAGES - AFTER_CUT);
    await waitFor(
      async () => (await metric(n, 'connections')) === connectionsBefore - 1,
      'the connection gauge to drop by one',
      5000,
    );
    expect(await metric(n, 'sessions')).to.equal(2);
    expect(await metric(n, 'subscriptions')).to.equal(1);

    // Reading again, the stalled client finds what the kernels held, then the end of the connection.
    slow.socket.resume();
    await within(slow.ended, 10_000, 'the stalled connection to end');
    const delivered = slow.frames.filter((f) => f.command === 'MESSAGE').length;
    expect(delivered).to.be.below(published);
    expect(slow.bytesIn - readBeforePause).to.be.below(published * BODY_BYTES);

    // The normal subscriber got every message, in order, with low latency throughout.
    expect(fast.errors).to.have.length(0);
    expect(seen).to.deep.equal(Array.from({ length: published }, (_, i) => i));
    const p99 = percentile(latencies, 99);
    expect(p99, `p99 ${p99} ms`).to.be.below(500);
    if (process.env.SLOW_CONSUMER_REPORT) {
      process.stdout.write(
        `      cut after publishing ${cutAt + 1} of ${published} (${(((cutAt + 1) * BODY_BYTES) / 1048576).toFixed(1)} MiB); ` +
          `stalled client then read ${delivered} MESSAGEs (${((slow.bytesIn - readBeforePause) / 1048576).toFixed(1)} MiB) held in kernel buffers; ` +
          `close frame: ${slow.closeCode ?? 'none'}; normal client p50 ${percentile(latencies, 50)} ms, p99 ${p99} ms, max ${Math.max(...latencies)} ms\n`,
      );
    }
  });

  // Delivery is done once a frame is queued on the subscriber's socket, not once the peer read it:
  // a stalled subscriber cannot hold up the publisher's RECEIPTs (or a node's relay chain), and
  // what it leaves queued grows until MAX_OUTBOUND_BYTES cuts it off.
  it("answers a publisher's RECEIPTs while a subscriber of the topic has stopped reading, and cuts that subscriber off", async () => {
    const stalled = await openTcpWebSocket(n.port);
    try {
      stalled.sendStomp('CONNECT\naccept-version:1.2\nheart-beat:0,0\nlogin:stalled-2\n\n\0');
      await stalled.next('CONNECTED');
      stalled.sendStomp('SUBSCRIBE\nid:s\ndestination:/topic/receipts\nreceipt:subscribed\n\n\0');
      await stalled.next('RECEIPT');
      stalled.socket.pause();
      const sender = await connectClient(n.url, { login: 'receipt-publisher' });
      const body = 'x'.repeat(BODY_BYTES);
      for (let i = 0; i < 1000; i++)
        await within(sender.sendWithReceipt('/topic/receipts', body), 15_000, `the RECEIPT of SEND ${i + 1}`);
      expect(await slowConsumerErrors(n)).to.be.at.least(1);
      await sender.disconnect();
    } finally {
      stalled.destroy();
    }
  });
});
