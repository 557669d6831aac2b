import { expect } from 'chai';
import { Client, type IMessage } from '@stomp/stompjs';
import {
  StompResume,
  type ResumableSubscription,
  type StreamPosition,
  type SubscribeOutcome,
} from '../../client/index.js';
import type { Frame } from '../../protocol/index.js';
import { webSocketFactory } from '../helpers/stomp-client.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

/** A server with the history extension: the test stub today, the node once it has it. */
export interface ResumeServer {
  /** Its STOMP endpoint (`ws://127.0.0.1:port/path`); the suite puts a TCP proxy in front. */
  readonly url: string;
  /** Accepts a message for a broadcast destination; resolves once accepted. */
  publish(destination: string, body: string): Promise<void>;
  /** Writes a copy of the message at `offset` again to the destination's subscribers (stub only). */
  duplicate?(destination: string, offset: number, redelivered?: boolean): Promise<void>;
  /** Loses every stream's history: new epochs from now on (stub only; the node: a restart). */
  forgetHistory?(): Promise<void>;
  /** Client frames the server received (stub only). */
  readonly received?: readonly Frame[];
  close(): Promise<void>;
}

/** Starts a server keeping history for `/topic/docs/**`, `historySize` messages per stream. */
export type StartResumeServer = (options: { historySize: number }) => Promise<ResumeServer>;

/**
 * The client helper (`stomp-relay/client`) with a real @stomp/stompjs Client over a real socket,
 * through a TCP proxy that drops connections (and, stalled then cut, loses the frames queued on
 * them). Run against the stub now and against a node once the node speaks the extension.
 */
export function resumeClientSuite(name: string, startServer: StartResumeServer): void {
  describe(`client helper (StompResume) against ${name}`, () => {
    const DOC = '/topic/docs/1';
    const OTHER = '/topic/docs/2';
    let server: ResumeServer | undefined;
    let proxy: TcpProxy | undefined;
    const clients: Client[] = [];

    async function start(historySize = 100): Promise<ResumeServer> {
      server = await startServer({ historySize });
      proxy = await startTcpProxy(new URL(server.url).origin.replace('ws:', 'http:'));
      return server;
    }

    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.deactivate()));
      await proxy?.close();
      await server?.close();
      proxy = undefined;
      server = undefined;
    });

    /** A STOMP.js client through the proxy with the helper on it, recording what the application sees. */
    function connect(onConnect?: () => void) {
      const url = new URL(server!.url);
      url.port = String(proxy!.port);
      const client = new Client({
        webSocketFactory: webSocketFactory(url.toString()),
        connectHeaders: { login: 'alice' },
        reconnectDelay: 20,
        heartbeatIncoming: 0,
        heartbeatOutgoing: 0,
        debug: () => {},
        ...(onConnect ? { onConnect } : {}),
      });
      clients.push(client);
      const seen = {
        bodies: new Map<string, string[]>(),
        notRecovered: [] as [string, StreamPosition][],
        subscribed: [] as [string, SubscribeOutcome][],
      };
      const resume = new StompResume(client, {
        onNotRecovered: (sub, position) => seen.notRecovered.push([sub.destination, position]),
        onSubscribed: (sub, outcome) => seen.subscribed.push([sub.destination, outcome]),
      });
      const subscribe = (
        destination: string,
        options: Parameters<StompResume['subscribe']>[2] = {},
        onMessage?: (m: IMessage) => void,
      ) => {
        seen.bodies.set(destination, []);
        return resume.subscribe(
          destination,
          (m) => {
            seen.bodies.get(destination)!.push(m.body);
            onMessage?.(m);
          },
          options,
        );
      };
      const bodies = (destination = DOC) => seen.bodies.get(destination) ?? [];
      const confirmations = (destination = DOC) => seen.subscribed.filter(([d]) => d === destination).map(([, o]) => o);
      const received = (n: number, destination = DOC) =>
        waitFor(() => bodies(destination).length >= n, `${n} message(s) on ${destination}`);
      const confirmed = (n: number, destination = DOC) =>
        waitFor(() => confirmations(destination).length >= n, `${n} confirmed subscription(s) to ${destination}`);
      return { client, resume, seen, subscribe, bodies, confirmations, received, confirmed };
    }

    async function publish(destination: string, ...bodies: string[]): Promise<void> {
      for (const b of bodies) await server!.publish(destination, b);
    }

    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

    /**
     * Drops the connection and runs `whileAway` while the client cannot reconnect, then lets it
     * back. With `lose`, `whileAway` runs first on a stalled connection that is then cut: what the
     * server wrote meanwhile is lost with it, as frames queued on a dying socket are.
     */
    async function away(c: { client: Client }, whileAway: () => Promise<void>, lose = false): Promise<void> {
      if (lose) {
        proxy!.stall();
        await whileAway();
      }
      proxy!.cut();
      await waitFor(() => !c.client.connected, 'the client to notice the cut');
      if (!lose) await whileAway();
      proxy!.restore();
    }

    it('starts a subscription at the position its RECEIPT names, and follows the offsets of its messages', async () => {
      await start();
      await publish(DOC, 'before');
      const c = connect();
      const sub = c.subscribe(DOC);
      c.client.activate();
      await c.confirmed(1);
      const [first] = c.confirmations();
      expect(first?.recovered).to.equal(undefined);
      expect(first?.position?.offset).to.equal(1);
      await publish(DOC, 'a', 'b');
      await c.received(2);
      expect(c.bodies()).to.deep.equal(['a', 'b']);
      expect(sub.position).to.deep.equal({ epoch: first?.position?.epoch, offset: 3 });
    });

    it('resumes after a dropped connection: what was published meanwhile arrives once and in order, then the live messages', async () => {
      await start();
      const c = connect();
      c.subscribe(DOC);
      c.client.activate();
      await c.confirmed(1);
      await publish(DOC, ...range(1, 3));
      await c.received(3);
      let published = 3;
      await away(c, async () => {
        await publish(DOC, String(++published), String(++published));
      });
      await c.confirmed(2);
      await publish(DOC, String(++published));
      await c.received(published);
      expect(c.bodies()).to.deep.equal(range(1, published));
      expect(c.confirmations()[1]?.recovered).to.equal(true);
      expect(c.seen.notRecovered).to.deep.equal([]);
    });

    it('recovers the frames that were queued on the socket when it was cut', async () => {
      await start();
      const c = connect();
      c.subscribe(DOC);
      c.client.activate();
      await c.confirmed(1);
      await publish(DOC, ...range(1, 3));
      await c.received(3);
      // Stalled: the server writes 4-8 into a connection that will never deliver them.
      await away(c, () => publish(DOC, ...range(4, 8)), true);
      await c.confirmed(2);
      await publish(DOC, '9');
      await c.received(9);
      expect(c.bodies()).to.deep.equal(range(1, 9));
      expect(c.confirmations()[1]?.recovered).to.equal(true);
    });

    it('tells the application once when the missed messages have left the history, and goes on live from there', async () => {
      await start(5);
      const c = connect();
      const sub = c.subscribe(DOC);
      c.client.activate();
      await c.confirmed(1);
      await publish(DOC, ...range(1, 3));
      await c.received(3);
      await away(c, () => publish(DOC, ...range(4, 13)));
      await c.confirmed(2);
      expect(c.confirmations()[1]).to.deep.include({ recovered: false });
      expect(c.seen.notRecovered).to.deep.equal([[DOC, c.confirmations()[1]?.position]]);
      expect(c.seen.notRecovered[0]?.[1].offset).to.equal(13);
      await publish(DOC, '14');
      await c.received(4);
      expect(c.bodies()).to.deep.equal(['1', '2', '3', '14']);
      // The next reconnect resumes from the new position.
      await away(c, () => publish(DOC, '15'));
      await c.confirmed(3);
      await publish(DOC, '16');
      await c.received(6);
      expect(c.bodies()).to.deep.equal(['1', '2', '3', '14', '15', '16']);
      expect(c.confirmations()[2]?.recovered).to.equal(true);
      expect(c.seen.notRecovered).to.have.length(1);
      expect(sub.position?.offset).to.equal(16);
    });

    it('resumes from a position the application kept, as after a page reload', async () => {
      await start();
      const first = connect();
      const sub = first.subscribe(DOC);
      first.client.activate();
      await first.confirmed(1);
      await publish(DOC, ...range(1, 2));
      await first.received(2);
      const kept = sub.position!;
      await first.client.deactivate();
      await publish(DOC, ...range(3, 5));
      const second = connect();
      second.subscribe(DOC, { from: kept });
      second.client.activate();
      await second.confirmed(1);
      await publish(DOC, '6');
      await second.received(4);
      expect(second.bodies()).to.deep.equal(range(3, 6));
      expect(second.confirmations()[0]?.recovered).to.equal(true);
    });

    it('makes plain subscriptions of destinations without history, again after a reconnect', async () => {
      const s = await start();
      const c = connect();
      const sub = c.subscribe('/topic/plain');
      c.client.activate();
      await c.confirmed(1, '/topic/plain');
      await publish('/topic/plain', 'p1');
      await c.received(1, '/topic/plain');
      await away(c, async () => {});
      await c.confirmed(2, '/topic/plain');
      await publish('/topic/plain', 'p2');
      await c.received(2, '/topic/plain');
      expect(c.bodies('/topic/plain')).to.deep.equal(['p1', 'p2']);
      expect(c.confirmations('/topic/plain')).to.deep.equal([
        { recovered: undefined, position: undefined },
        { recovered: undefined, position: undefined },
      ]);
      expect(sub.position).to.equal(undefined);
      if (s.received) {
        const subscribes = s.received.filter((f) => f.command === 'SUBSCRIBE');
        expect(subscribes.flatMap((f) => f.headers.filter(([n]) => n.startsWith('x-resume-')))).to.deep.equal([]);
      }
    });

    it("keeps the application's own onConnect, set before or after, and stops making a subscription once unsubscribed", async () => {
      await start();
      let before = 0;
      let after = 0;
      const c = connect(() => before++);
      const gone: ResumableSubscription = c.subscribe(OTHER);
      c.subscribe(DOC);
      c.client.activate();
      await c.confirmed(1);
      await c.confirmed(1, OTHER);
      expect(before).to.equal(1);
      c.client.onConnect = () => after++;
      gone.unsubscribe();
      await away(c, async () => {});
      await c.confirmed(2);
      expect([before, after]).to.deep.equal([1, 1]);
      await publish(OTHER, 'not for us');
      await publish(DOC, 'fence');
      await c.received(1);
      expect(c.bodies(OTHER)).to.deep.equal([]);
      expect(c.confirmations(OTHER)).to.have.length(1);
    });

    it('drops a copy of a message it delivered already, and acknowledges it in client-individual mode', async function () {
      const s = await start();
      if (!s.duplicate || !s.received) this.skip();
      const c = connect();
      c.subscribe(DOC, { headers: { ack: 'client-individual' } }, (m) => m.ack());
      c.client.activate();
      await c.confirmed(1);
      await publish(DOC, ...range(1, 3));
      await c.received(3);
      await s.duplicate(DOC, 2);
      await publish(DOC, '4');
      await c.received(4);
      expect(c.bodies()).to.deep.equal(range(1, 4));
      // Four ACKs for four messages delivered, one more for the copy.
      await waitFor(() => s.received!.filter((f) => f.command === 'ACK').length >= 5, 'five ACKs');
    });

    it('delivers a copy the server flags redelivered, even at an offset it passed, without moving back', async function () {
      const s = await start();
      if (!s.duplicate) this.skip();
      const c = connect();
      const sub = c.subscribe(DOC, { headers: { ack: 'client' } });
      c.client.activate();
      await c.confirmed(1);
      await publish(DOC, ...range(1, 3));
      await c.received(3);
      await s.duplicate(DOC, 2, true);
      await publish(DOC, '4');
      await c.received(5);
      expect(c.bodies()).to.deep.equal(['1', '2', '3', '2', '4']);
      expect(sub.position?.offset).to.equal(4);
    });

    it('tells the application when a live message shows that the stream was reset, and resumes in the new epoch', async function () {
      const s = await start();
      if (!s.forgetHistory) this.skip();
      const c = connect();
      const sub = c.subscribe(DOC);
      c.client.activate();
      await c.confirmed(1);
      await publish(DOC, ...range(1, 2));
      await c.received(2);
      const before = sub.position!;
      await s.forgetHistory();
      await publish(DOC, '3');
      await c.received(3);
      expect(c.seen.notRecovered).to.have.length(1);
      const [, reset] = c.seen.notRecovered[0]!;
      expect(reset.epoch).to.not.equal(before.epoch);
      expect(reset.offset).to.equal(1);
      await away(c, () => publish(DOC, '4'));
      await c.confirmed(2);
      await publish(DOC, '5');
      await c.received(5);
      expect(c.bodies()).to.deep.equal(range(1, 5));
      expect(c.seen.notRecovered).to.have.length(1);
    });
  });
}
