import { expect } from 'chai';
import { header } from '../../protocol/index.js';
import { DevAuthenticator } from '../../server/auth/dev-authenticator.js';
import { loadConfig } from '../../server/config.js';
import { createNode } from '../../server/node.js';
import { MemoryRegistry } from '../../server/registry/memory-registry.js';
import { connectRaw, openRaw, type RawSocket } from '../helpers/raw-socket.js';
import { startNode } from '../helpers/start-node.js';
import { connectClient } from '../helpers/stomp-client.js';
import { waitFor } from '../helpers/wait.js';

/** A registry whose leaving never completes, as a Redis that stopped answering mid-drain. */
class StuckRegistry extends MemoryRegistry {
  override removeNode(): Promise<void> {
    return new Promise(() => undefined);
  }
}

describe('limits from the configuration', () => {
  it('ends a drain at DRAIN_TIMEOUT_MS when Redis stops answering, with the sessions closed', async function () {
    this.timeout(10_000);
    const n = await startNode(
      { DRAIN_TIMEOUT_MS: '500', NODE_ID: 'stuck-drain' },
      { registry: new StuckRegistry('stuck-drain') },
    );
    const s = await connectRaw(n.url, 'drainee');
    let drained = false;
    const drain = n.node.drain().then(() => (drained = true));
    await waitFor(() => drained, 'the drain to end despite the stuck registry', 5000);
    await drain;
    expect((await s.closed).code).to.be.oneOf([1001, 1006, 1012]);
  });

  it('closes a WebSocket that sends no CONNECT within CONNECT_TIMEOUT_MS', async function () {
    this.timeout(10_000);
    const n = await startNode({ CONNECT_TIMEOUT_MS: '1000' });
    try {
      const s = await openRaw(n.url);
      const error = await s.next('ERROR', 5000);
      expect(header(error, 'message')).to.contain('no CONNECT frame in time');
      expect((await s.closed).code).to.equal(1002);
    } finally {
      await n.stop();
    }
  });

  it('answers a CONNECT past MAX_PENDING_CONNECTS with BUSY and close 1013, and takes CONNECTs again once the others are through', async function () {
    this.timeout(10_000);
    // An authenticator that holds every CONNECT until the test lets them through, as a slow
    // token check or registry during a reconnect storm would.
    const held: (() => void)[] = [];
    const authenticator = new (class extends DevAuthenticator {
      override async authenticate(request: Parameters<DevAuthenticator['authenticate']>[0]) {
        await new Promise<void>((resolve) => held.push(resolve));
        return super.authenticate(request);
      }
    })();
    const n = await startNode({ MAX_PENDING_CONNECTS: '2' }, { authenticator });
    try {
      const connect = (login: string) => `CONNECT\naccept-version:1.2\nhost:localhost\nlogin:${login}\n\n\0`;
      const waiting = [await openRaw(n.url), await openRaw(n.url)];
      waiting.forEach((s, i) => s.send(connect(`w${i}`)));
      await waitFor(() => held.length === 2, 'two CONNECTs in progress');
      const refused = await openRaw(n.url);
      refused.send(connect('late'));
      const error = await refused.next('ERROR');
      expect(header(error, 'message')).to.contain('too many CONNECTs at once');
      expect((await refused.closed).code).to.equal(1013);
      for (const release of held.splice(0)) release();
      for (const s of waiting) await s.next('CONNECTED');
      const again = await openRaw(n.url);
      again.send(connect('again'));
      await waitFor(() => held.length === 1, 'the next CONNECT admitted');
      held.pop()!();
      await again.next('CONNECTED');
    } finally {
      await n.stop();
    }
  });

  it('answers a CONNECT with BUSY and close 1013 until the node is ready, then takes it', async function () {
    this.timeout(10_000);
    // A registry that cannot be reached yet: the node listens, but is not ready.
    let reachable: () => void = () => undefined;
    const registry = new (class extends MemoryRegistry {
      override async keepAlive(): Promise<void> {
        await new Promise<void>((resolve) => (reachable = resolve));
      }
    })('starting-node');
    const node = await createNode(loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' }), { registry });
    const port = await node.listen();
    const url = `ws://127.0.0.1:${port}/ws`;
    try {
      const early = await openRaw(url);
      early.send('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:early\n\n\0');
      expect(header(await early.next('ERROR'), 'message')).to.contain('the node is starting');
      expect((await early.closed).code).to.equal(1013);
      reachable();
      await node.ready();
      await connectRaw(url, 'later');
    } finally {
      await node.close();
    }
  });

  it('dead-letters a NACKed message after MAX_REDELIVERIES deliveries again', async () => {
    const n = await startNode({ MAX_REDELIVERIES: '1' });
    try {
      const c = await connectClient(n.url, { login: 'nacker' });
      const inbox = await c.subscribeWithReceipt('/user/queue/work', { ack: 'client-individual' });
      await n.node.template.convertAndSendToUser('nacker', '/queue/work', 'poison');
      (await inbox.wait(1))[0]!.nack();
      (await inbox.wait(2))[1]!.nack();
      await waitFor(
        async () =>
          /stomp_dead_lettered_total 1/.test(
            await n.node.metrics.registry.getSingleMetricAsString('stomp_dead_lettered_total'),
          ),
        'dead-lettered',
      );
      // A fence: a message sent after the second NACK arrives, and nothing came between.
      await n.node.template.convertAndSendToUser('nacker', '/queue/work', 'fence');
      await inbox.wait(3);
      expect(inbox.bodies()).to.deep.equal(['poison', 'poison', 'fence']);
      await c.disconnect();
    } finally {
      await n.stop();
    }
  });

  describe('MAX_FRAMES_PER_SECOND', () => {
    // A session's count is let go at a server heart-beat once its second is over (an idle session
    // holds none); these hold the limit across that.
    const LIMIT = 20;
    const connect = async (url: string): Promise<RawSocket> => {
      const s = await openRaw(url);
      // Server heart-beats every 200 ms while the session writes nothing (SENDs ask no receipt).
      s.send('CONNECT\naccept-version:1.2\nhost:localhost\nlogin:rate\nheart-beat:0,200\n\n\0');
      await s.next('CONNECTED');
      return s;
    };
    const sendFrames = (s: RawSocket, count: number): void => {
      for (let i = 0; i < count; i++) s.send('SEND\ndestination:/topic/rate\n\nx\0');
    };
    const beat = async (s: RawSocket): Promise<void> => {
      const seen = s.raw.length;
      await waitFor(() => s.raw.length > seen, 'a server heart-beat', 3000);
    };

    it('lets a session send under the limit after an idle spell, and closes it past the limit', async function () {
      this.timeout(10_000);
      const n = await startNode({ MAX_FRAMES_PER_SECOND: String(LIMIT), HEARTBEAT: '200,0' });
      try {
        const s = await connect(n.url);
        sendFrames(s, LIMIT - 5);
        // Idle past its second, with server heart-beats meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 1200));
        await beat(s);
        sendFrames(s, LIMIT - 5);
        s.send('SEND\ndestination:/topic/rate\nreceipt:calm\n\nx\0');
        const receipt = await s.next('RECEIPT');
        expect(header(receipt, 'receipt-id')).to.equal('calm');
        sendFrames(s, 10);
        const error = await s.next('ERROR');
        expect(header(error, 'message')).to.contain(`more than ${LIMIT} frames per second`);
        expect((await s.closed).code).to.equal(1008);
      } finally {
        await n.stop();
      }
    });

    it('counts the frames before and after a server heart-beat in one second together', async function () {
      this.timeout(40_000);
      const n = await startNode({ MAX_FRAMES_PER_SECOND: String(LIMIT), HEARTBEAT: '200,0' });
      try {
        // The second starts at CONNECT. A machine too busy to get both halves to the node within
        // it (sent late, or read late) tries again; a node that let the count go at the beat
        // never closes the session, and fails every attempt.
        const attempts = 5;
        const missed: string[] = [];
        for (let attempt = 1; attempt <= attempts; attempt++) {
          const started = performance.now();
          const s = await connect(n.url);
          sendFrames(s, LIMIT - 5);
          await beat(s);
          sendFrames(s, LIMIT - 5);
          const sentWithin = performance.now() - started;
          const error = await s.next('ERROR', 2000).catch(() => undefined);
          if (error !== undefined) {
            expect(header(error, 'message')).to.contain(`more than ${LIMIT} frames per second`);
            return;
          }
          missed.push(`attempt ${attempt}: both halves sent within ${Math.round(sentWithin)} ms, no ERROR`);
          s.close();
        }
        expect.fail(`never closed for ${2 * (LIMIT - 5)} frames around a heart-beat: ${missed.join('; ')}`);
      } finally {
        await n.stop();
      }
    });
  });
});
