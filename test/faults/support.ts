import { appendFileSync } from 'node:fs';
import { Client, type IFrame, type IMessage } from '@stomp/stompjs';
import type { Redis } from 'ioredis';
import { StompResume } from '../../client/index.js';
import { redisKeys } from '../../server/redis/redis-keys.js';
import { webSocketFactory } from '../helpers/stomp-client.js';
import { delay, waitFor } from '../helpers/wait.js';

/**
 * What the fault suites share: a ledger of numbered messages (sent, accepted, received, per
 * recipient), a careful STOMP.js sender that re-sends what got no RECEIPT after it reconnects
 * (same `message-id`), and a recipient that re-subscribes in onConnect. The scenarios measure the
 * server's promise (SPEC §8): an accepted message reaches its user.
 */

/** The document the recipients are in; their subscription joins it (co:{DOC}). */
export const DOC = '42';
/** What the recipients subscribe to, and the `/user/{to}` + USER_DEST senders send to. */
export const SUB_DEST = `/user/${DOC}/queue/faults`;
export const USER_DEST = `/${DOC}/queue/faults`;

interface Expected {
  readonly key: string;
  readonly from: string;
  readonly to: string;
  readonly n: number;
  /** When it was first sent (epoch ms). */
  readonly at: number;
}

export interface UserCounts {
  readonly user: string;
  readonly sent: number;
  readonly accepted: number;
  readonly received: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly reordered: number;
}

/** Every numbered message of a scenario, what the senders were told, and what the recipients got. */
export class Ledger {
  private readonly expected = new Map<string, Expected>();
  private readonly accepted = new Set<string>();
  /** Copies received, per message, per tab (a user's session: a user may have several). */
  private readonly received = new Map<string, Map<string, number>>();
  /** Per (from, to): the last number received, to count arrivals out of order. */
  private readonly lastN = new Map<string, number>();
  private reorderedBy = new Map<string, number>();
  /** A MESSAGE whose message-id header differs from the id the sender gave it. */
  idMismatches = 0;
  /** The longest time between two messages received for the first time (after the first one). */
  longestPauseMs = 0;
  private lastFirstAt: number | undefined;

  constructor(readonly scenario: string) {}

  key(from: string, to: string, n: number): string {
    return `${this.scenario}:${from}:${to}:${n}`;
  }

  sent(from: string, to: string, n: number): string {
    const key = this.key(from, to, n);
    if (!this.expected.has(key)) this.expected.set(key, { key, from, to, n, at: Date.now() });
    return key;
  }

  accept(key: string): void {
    this.accepted.add(key);
  }

  isAccepted(key: string): boolean {
    return this.accepted.has(key);
  }

  /**
   * A recipient's session (`tab`) got a MESSAGE whose body is `{k, from, to, n}`. A message counts
   * as received when any tab of its user got it; a duplicate is a second copy in one tab.
   */
  receive(to: string, msg: IMessage, checkHeaderId: boolean, tab = 'main'): void {
    let body: { k?: unknown; from?: unknown; n?: unknown; to?: unknown };
    try {
      body = JSON.parse(msg.body) as typeof body;
    } catch {
      return;
    }
    if (typeof body.k !== 'string' || body.to !== to) return;
    if (checkHeaderId && msg.headers['message-id'] !== body.k) this.idMismatches++;
    let tabs = this.received.get(body.k);
    if (!tabs) this.received.set(body.k, (tabs = new Map<string, number>()));
    let seen = 0;
    for (const c of tabs.values()) seen += c;
    tabs.set(tab, (tabs.get(tab) ?? 0) + 1);
    if (seen === 0) {
      const now = Date.now();
      if (this.lastFirstAt !== undefined) this.longestPauseMs = Math.max(this.longestPauseMs, now - this.lastFirstAt);
      this.lastFirstAt = now;
    }
    if (seen === 0 && typeof body.from === 'string' && typeof body.n === 'number') {
      const pair = `${body.from}>${to}`;
      const last = this.lastN.get(pair) ?? 0;
      if (body.n < last) this.reorderedBy.set(to, (this.reorderedBy.get(to) ?? 0) + 1);
      else this.lastN.set(pair, body.n);
    }
  }

  /** Accepted messages for `to` (all users when undefined) not received yet. */
  lost(to?: string): Expected[] {
    return [...this.expected.values()].filter(
      (e) => (to === undefined || e.to === to) && this.accepted.has(e.key) && !this.received.has(e.key),
    );
  }

  /** Sent and never accepted (no RECEIPT / 202 in the end). */
  unaccepted(): Expected[] {
    return [...this.expected.values()].filter((e) => !this.accepted.has(e.key));
  }

  counts(): UserCounts[] {
    const users = [...new Set([...this.expected.values()].map((e) => e.to))].sort();
    return users.map((user) => {
      const mine = [...this.expected.values()].filter((e) => e.to === user);
      let received = 0;
      let duplicates = 0;
      for (const e of mine) {
        const tabs = this.received.get(e.key);
        if (tabs) received++;
        for (const c of tabs?.values() ?? []) duplicates += c - 1;
      }
      return {
        user,
        sent: mine.length,
        accepted: mine.filter((e) => this.accepted.has(e.key)).length,
        received,
        lost: mine.filter((e) => this.accepted.has(e.key) && !this.received.has(e.key)).length,
        duplicates,
        reordered: this.reorderedBy.get(user) ?? 0,
      };
    });
  }

  totals(): Omit<UserCounts, 'user'> {
    const zero = { sent: 0, accepted: 0, received: 0, lost: 0, duplicates: 0, reordered: 0 };
    return this.counts().reduce(
      (t, c) => ({
        sent: t.sent + c.sent,
        accepted: t.accepted + c.accepted,
        received: t.received + c.received,
        lost: t.lost + c.lost,
        duplicates: t.duplicates + c.duplicates,
        reordered: t.reordered + c.reordered,
      }),
      zero,
    );
  }

  /** Waits, by bounded polling, until every accepted message was received. */
  async settle(timeoutMs: number): Promise<void> {
    await waitFor(
      () => this.lost().length === 0,
      `every accepted message of "${this.scenario}" to arrive`,
      timeoutMs,
      100,
    ).catch(() => undefined);
  }

  /**
   * The scenario's one-line summary (printed, and appended as JSON to FAULTS_REPORT when set, for
   * the multi-run table), with per-user lost/duplicates.
   */
  report(extra: Record<string, number | string> = {}): string {
    const t = this.totals();
    const perUser = this.counts()
      .map((c) => `${c.user.replace(/-\d+$/, '')} ${c.lost}/${c.duplicates}`)
      .join(', ');
    const more = Object.entries(extra)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const line =
      `[faults] ${this.scenario}: sent=${t.sent} accepted=${t.accepted} received=${t.received} lost=${t.lost} ` +
      `duplicates=${t.duplicates} reordered=${t.reordered}${more ? ` ${more}` : ''} (per user lost/dup: ${perUser})`;
    console.log(`      ${line}`);
    const file = process.env.FAULTS_REPORT;
    if (file)
      appendFileSync(
        file,
        `${JSON.stringify({ scenario: this.scenario, ...t, ...extra, at: new Date().toISOString() })}\n`,
      );
    return line;
  }

  /** Per sender and recipient: the numbers lost (first–last, how many) and when the first of them was sent. */
  describeLostRanges(): string[] {
    const byPair = new Map<string, Expected[]>();
    for (const e of this.lost()) {
      const pair = `${e.from}>${e.to}`;
      byPair.set(pair, [...(byPair.get(pair) ?? []), e]);
    }
    return [...byPair].map(([pair, lost]) => {
      const first = lost.reduce((a, b) => (b.n < a.n ? b : a));
      const last = lost.reduce((a, b) => (b.n > a.n ? b : a));
      return `${pair}: ${first.n}–${last.n} (${lost.length}), first sent ${new Date(first.at).toISOString()}`;
    });
  }

  /** For a failure message: the first lost keys. */
  describeLost(limit = 10): string {
    const lost = this.lost();
    return `${lost.length} lost: ${lost
      .slice(0, limit)
      .map((e) => e.key)
      .join(' ')}${lost.length > limit ? ' …' : ''}`;
  }
}

/** A STOMP.js client over ws that reconnects (through a balancer, or to one node). */
abstract class ReconnectingClient {
  readonly client: Client;
  /** ERROR frames received, by `message` header. */
  readonly errors: string[] = [];
  /** WebSocket close codes seen, in order. */
  readonly closes: number[] = [];
  /** CONNECTED frames received (1 + reconnects). */
  connects = 0;
  private stopped = false;

  constructor(
    readonly user: string,
    url: string,
    reconnectDelayMs: number,
  ) {
    this.client = new Client({
      webSocketFactory: webSocketFactory(url),
      connectHeaders: { login: user },
      reconnectDelay: reconnectDelayMs,
      connectionTimeout: 3000,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      debug: () => {},
      onConnect: (frame) => {
        this.connects++;
        this.onConnected(frame);
      },
      onStompError: (frame) => {
        this.errors.push(frame.headers.message ?? '');
        this.onError();
      },
      onWebSocketClose: (evt: { code: number }) => {
        if (!this.stopped) this.closes.push(evt.code);
        this.onDisconnected();
      },
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  start(): void {
    this.client.activate();
  }

  /** Resolves once connected (and, for a recipient, subscribed). */
  abstract ready(): boolean;

  async waitReady(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.ready(), `${this.user} to be connected`, timeoutMs, 20);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client.deactivate().catch(() => undefined);
  }

  protected abstract onConnected(frame: IFrame): void;
  protected abstract onDisconnected(): void;
  protected onError(): void {}
}

/**
 * A recipient as a Spring frontend writes it: subscribes in onConnect (STOMP.js keeps no
 * subscriptions across reconnects) with a receipt, and counts what arrives in the ledger.
 */
export class Recipient extends ReconnectingClient {
  private subscribed = false;
  private seq = 0;
  /** When the current subscription was confirmed. */
  subscribedAt = 0;

  /** Which of the user's sessions this is, for the ledger (a second browser tab: 'b'). */
  readonly tab: string;
  private readonly ack: 'auto' | 'client-individual';
  /** With `resume`: the helper's subscriptions that could not pick up where they left off. */
  notRecovered = 0;
  private readonly resume: boolean;

  constructor(
    user: string,
    url: string,
    private readonly ledger: Ledger,
    options: {
      /** STOMP.js reconnectDelay. Default 200 ms. */
      reconnectDelayMs?: number;
      tab?: string;
      /**
       * 'client-individual': each MESSAGE is ACKed after it was counted, so what the node wrote to
       * a session that then ends unread is kept for the next one (SPEC §3). Default 'auto'.
       */
      ack?: 'auto' | 'client-individual';
      /** Subscribe through the resume helper (`stomp-relay/client`): it resubscribes after every reconnect from its last offset. */
      resume?: boolean;
    } = {},
  ) {
    super(user, url, options.reconnectDelayMs ?? 200);
    this.tab = options.tab ?? 'main';
    this.ack = options.ack ?? 'auto';
    this.resume = options.resume ?? false;
    if (this.resume) {
      const helper = new StompResume(this.client, {
        onSubscribed: () => {
          this.subscribed = true;
          this.subscribedAt = Date.now();
        },
        onNotRecovered: () => this.notRecovered++,
      });
      helper.subscribe(SUB_DEST, (m) => this.received(m), { headers: this.ack === 'auto' ? {} : { ack: this.ack } });
    }
  }

  private received(m: IMessage): void {
    this.ledger.receive(this.user, m, true, this.tab);
    if (this.ack !== 'auto') m.ack();
  }

  ready(): boolean {
    return this.connected && this.subscribed;
  }

  /** For failure messages: connection and subscription state, reconnects, ERRORs, close codes. */
  state(): string {
    const since = this.subscribedAt ? `${((Date.now() - this.subscribedAt) / 1000).toFixed(0)} s ago` : 'never';
    return (
      `connected=${this.connected} subscribed=${this.subscribed} (${since}) connects=${this.connects} ` +
      `notRecovered=${this.notRecovered} errors=${this.errors.join('|')} closes=${this.closes.join('/')}`
    );
  }

  protected onConnected(): void {
    if (this.resume) return; // the helper subscribed already, and says when its RECEIPT came
    this.subscribed = false;
    const receipt = `${this.user}-sub-${++this.seq}`;
    this.client.watchForReceipt(receipt, () => {
      this.subscribed = true;
      this.subscribedAt = Date.now();
    });
    const headers: Record<string, string> = { id: 'faults', receipt };
    if (this.ack !== 'auto') headers.ack = this.ack;
    this.client.subscribe(SUB_DEST, (m) => this.received(m), headers);
  }

  protected onDisconnected(): void {
    this.subscribed = false;
  }
}

interface Outstanding {
  readonly key: string;
  readonly to: string;
  readonly n: number;
  attempts: number;
  /** The connection (generation) it was last published on; a RECEIPT can only come from that one. */
  sentOn: number;
}

/**
 * A careful sender: every SEND carries the message's own `message-id` and a receipt; a message
 * without RECEIPT when the connection ends (its node died, drained, or answered ERROR) is sent
 * again, with the same `message-id`, after the next CONNECTED. It keeps at most `window`
 * messages unconfirmed. After an ERROR (the relay did not take a message) it backs off as TCP
 * does: the next connection starts with one message in flight and doubles per RECEIPT, so a
 * full relay buffer is not hit again at once by a burst of re-sends.
 */
export class CarefulSender extends ReconnectingClient {
  private readonly outstanding = new Map<string, Outstanding>();
  private readonly counters = new Map<string, number>();
  private seq = 0;
  private generation = 0;
  private cap: number;
  /** SENDs that were repeats of a message already sent once. */
  resent = 0;

  constructor(
    user: string,
    url: string,
    private readonly ledger: Ledger,
    private readonly window = 40,
    reconnectDelayMs = 200,
  ) {
    super(user, url, reconnectDelayMs);
    this.cap = window;
  }

  ready(): boolean {
    return this.connected;
  }

  /** For failure messages: connection state, reconnects, ERRORs, close codes. */
  state(): string {
    return `connected=${this.connected} connects=${this.connects} errors=${this.errors.length} closes=${this.closes.join('/')}`;
  }

  get pending(): number {
    return this.outstanding.size;
  }

  /** Sends the next numbered message to `to`, once fewer than `window` wait for their RECEIPT. */
  async next(to: string, deadline: number): Promise<void> {
    while (this.outstanding.size >= this.window) {
      if (Date.now() > deadline)
        throw new Error(
          `${this.user}: ${this.outstanding.size} messages without RECEIPT at the deadline (${this.state()})`,
        );
      await delay(5);
    }
    const n = (this.counters.get(to) ?? 0) + 1;
    this.counters.set(to, n);
    const key = this.ledger.sent(this.user, to, n);
    this.outstanding.set(key, { key, to, n, attempts: 0, sentOn: 0 });
    this.pump();
  }

  /** Sends `perRecipient` messages to each of `to`, round robin, one every `everyMs`. */
  async stream(
    to: readonly string[],
    perRecipient: number,
    everyMs: number,
    deadline: number,
    stopEarly?: () => boolean,
  ): Promise<void> {
    for (let i = 0; i < perRecipient * to.length; i++) {
      if (stopEarly?.()) return;
      await this.next(to[i % to.length]!, deadline);
      await delay(everyMs);
    }
  }

  /** Waits until every message sent so far got its RECEIPT. */
  async allAccepted(timeoutMs: number): Promise<void> {
    await waitFor(() => this.outstanding.size === 0, `${this.user}: a RECEIPT for every message`, timeoutMs, 50).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}; ${this.outstanding.size} missing (${this.state()})`);
      },
    );
  }

  protected onConnected(): void {
    this.generation++;
    // Whatever got no RECEIPT on the last connection is sent again, in order, with its id.
    this.pump();
  }

  protected onDisconnected(): void {}

  protected override onError(): void {
    this.cap = 1;
  }

  /** Publishes, in order, what is not on the current connection yet, up to `cap` in flight. */
  private pump(): void {
    if (!this.connected) return;
    let inFlight = 0;
    for (const o of this.outstanding.values()) if (o.sentOn === this.generation) inFlight++;
    for (const o of this.outstanding.values()) {
      if (inFlight >= this.cap) return;
      if (o.sentOn === this.generation) continue;
      this.publish(o);
      inFlight++;
    }
  }

  private publish(o: Outstanding): void {
    if (o.attempts > 0) this.resent++;
    o.attempts++;
    o.sentOn = this.generation;
    const receipt = `${o.key}#${++this.seq}`;
    this.client.watchForReceipt(receipt, () => {
      this.ledger.accept(o.key);
      this.outstanding.delete(o.key);
      this.cap = Math.min(this.window, this.cap * 2);
      this.pump();
    });
    try {
      this.client.publish({
        destination: `/user/${o.to}${USER_DEST}`,
        body: JSON.stringify({ k: o.key, from: this.user, to: o.to, n: o.n }),
        headers: { 'message-id': o.key, receipt, 'content-type': 'application/json' },
      });
    } catch {
      // The connection went away between `connected` and here: onConnect sends it again.
    }
  }
}

/** The registry as Redis holds it for `users` in DOC: co:{DOC} fields and user:{id} hashes. */
export async function registrySnapshot(
  redis: Redis,
  keyPrefix: string,
  users: readonly string[],
): Promise<{
  co: Record<string, { node: string; sessions: number; nodes: Record<string, number> }>;
  user: Record<string, Record<string, string>>;
}> {
  const keys = redisKeys(keyPrefix);
  const raw = await redis.hgetall(keys.co(DOC));
  const co: Record<string, { node: string; sessions: number; nodes: Record<string, number> }> = {};
  for (const [u, v] of Object.entries(raw)) if (users.includes(u)) co[u] = JSON.parse(v) as (typeof co)[string];
  const user: Record<string, Record<string, string>> = {};
  for (const u of users) {
    const h = await redis.hgetall(keys.user(u));
    if (Object.keys(h).length > 0) user[u] = h;
  }
  return { co, user };
}

/** The node a user's only session is on, from the registry (user:{id}); undefined when not exactly one. */
export async function nodeOf(redis: Redis, keyPrefix: string, user: string): Promise<string | undefined> {
  const h = await redis.hgetall(redisKeys(keyPrefix).user(user));
  const nodes = Object.keys(h);
  return nodes.length === 1 ? nodes[0] : undefined;
}

/** Messages kept in a user's offline inbox (for diagnosing a loss: stranded there?). */
export async function inboxLength(redis: Redis, keyPrefix: string, user: string): Promise<number> {
  return redis.llen(redisKeys(keyPrefix).inbox(user));
}

/** Stops every client, never throwing. */
export async function stopAll(clients: readonly { stop(): Promise<void> }[]): Promise<void> {
  await Promise.all(clients.map((c) => c.stop()));
}

/** GET /readyz's status on a node (0 when it does not answer). */
export async function readyStatus(http: string): Promise<number> {
  try {
    return (await fetch(`${http}/readyz`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0;
  }
}

/** Waits until every node answers /readyz with `status` (proof that a fault took effect, or is over). */
export async function waitReady(https: readonly string[], status: 200 | 503, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    async () => (await Promise.all(https.map(readyStatus))).every((s) => s === status),
    `/readyz ${status} on ${https.length} node(s)`,
    timeoutMs,
    50,
  );
}

/** Duplicates the live nodes suppressed (a second copy on one subscription, written once), from /metrics. */
export async function suppressedDuplicates(
  nodes: readonly { http: string; process: { exitCode: number | null; signalCode: string | null } }[],
): Promise<number> {
  let sum = 0;
  for (const n of nodes) {
    if (n.process.exitCode !== null || n.process.signalCode !== null) continue;
    const text = await (await fetch(`${n.http}/metrics`)).text();
    const m = /^stomp_duplicates_suppressed_total (\S+)$/m.exec(text);
    sum += m ? Number(m[1]) : 0;
  }
  return sum;
}

/** What a user's offline inbox holds, one short line per message (id, origin node, rerouted), for a failure message. */
export async function describeInbox(redis: Redis, keyPrefix: string, user: string): Promise<string> {
  const entries = await redis.lrange(redisKeys(keyPrefix).inbox(user), 0, -1);
  return entries
    .map((e) => {
      try {
        const v = JSON.parse(e) as { msg?: { id?: string; origin?: string; rerouted?: boolean } };
        const m = v.msg ?? {};
        return `${m.id ?? '?'} (origin ${m.origin ?? '?'}${m.rerouted ? ', rerouted' : ''})`;
      } catch {
        return e.slice(0, 120);
      }
    })
    .join('; ');
}

/** Nodes as the mesh needs them: a STOMP endpoint, and what suppressedDuplicates reads. */
type MeshNode = { readonly url: string } & Parameters<typeof suppressedDuplicates>[0][number];

/** The fault suites' steady load: see startMesh. */
export interface Mesh {
  readonly recipients: readonly Recipient[];
  readonly senders: readonly CarefulSender[];
  /** The nodes' suppressed-duplicate count when the streams began. */
  readonly suppressedBefore: number;
  /** Resolves when every stream has sent, every SEND was accepted, and the ledger settled. */
  finish(): Promise<void>;
  /** SENDs repeated after a reconnect, over all senders. */
  resent(): number;
}

/**
 * Three recipients and three senders, one of each per node (R1 on node 2, R2 on node 3, R3 on
 * node 1; S1–S3 on nodes 1–3), connected and subscribed; then every sender streams 70 messages
 * to every recipient, one every 25 ms. `clients` gets them all, for the suite to stop.
 */
export async function startMesh(
  nodes: readonly [MeshNode, MeshNode, MeshNode],
  ledger: Ledger,
  users: readonly [R1: string, R2: string, R3: string, S1: string, S2: string, S3: string],
  clients: { stop(): Promise<void> }[],
  options: { readonly resume?: boolean } = {},
): Promise<Mesh> {
  const [R1, R2, R3, S1, S2, S3] = users;
  const [n1, n2, n3] = nodes;
  const recipients = [
    new Recipient(R1, n2.url, ledger, options),
    new Recipient(R2, n3.url, ledger, options),
    new Recipient(R3, n1.url, ledger, options),
  ];
  const senders = [
    new CarefulSender(S1, n1.url, ledger),
    new CarefulSender(S2, n2.url, ledger),
    new CarefulSender(S3, n3.url, ledger),
  ];
  const all = [...recipients, ...senders];
  clients.push(...all);
  for (const c of all) c.start();
  await Promise.all(all.map((c) => c.waitReady()));

  const suppressedBefore = await suppressedDuplicates(nodes);
  const deadline = Date.now() + 60_000;
  const streams = senders.map((s) => s.stream([R1, R2, R3], 70, 25, deadline));
  return {
    recipients,
    senders,
    suppressedBefore,
    async finish() {
      await Promise.all(streams);
      await Promise.all(senders.map((s) => s.allAccepted(30_000)));
      await ledger.settle(20_000);
    },
    resent: () => senders.reduce((n, s) => n + s.resent, 0),
  };
}
