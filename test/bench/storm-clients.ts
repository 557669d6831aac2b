/**
 * Child process of the storm scenario: holds COUNT STOMP sessions on URLS[0], each subscribed to
 * its document's chat (`/user/{docId}/queue/chat`) and presence topic (documents of 10 users);
 * heart-beats 10 s both ways. When a session's socket closes (its node was killed) it reconnects
 * as STOMP.js does, after a jittered back-off (0.5–2.5 s, doubling up to 5 s while refused), to
 * one of the other URLS, and subscribes again. Prints `{"msg":"connected"}`, `{"msg":"ready"}`,
 * then `{"msg":"resubscribed","ms"}` once every session is subscribed again (ms since the first
 * close), and at SIGTERM `{"msg":"closing","chatDistinct","chatTotal","retries","problems"}`.
 */
import { inBatches, LeanStompClient } from './lean-stomp-client.js';

const urls = (process.env.URLS ?? '').split(',');
const count = Number(process.env.COUNT ?? 0);
const prefix = process.env.LOGIN_PREFIX ?? 'storm';
const heartbeat: [number, number] = [10_000, 10_000];

const chatSeen = new Set<string>();
let chatTotal = 0;
let resubscribed = 0;
let retries = 0;
let firstClose: number | undefined;
/** Set by SIGUSR2 just before the node is killed: closes before it are the bench's own fault. */
let killed = false;
let closedEarly = 0;
process.on('SIGUSR2', () => (killed = true));
const problems: string[] = [];
const live = new Set<LeanStompClient>();
/** Session i's current client (beats go by this fixed index, whatever the reconnects' order). */
const current = new Array<LeanStompClient | undefined>(count);

const docOf = (i: number) => `${prefix}-d${Math.floor(i / 10)}`;

async function open(i: number, url: string): Promise<LeanStompClient> {
  const c = await LeanStompClient.connect({ url, login: `${prefix}-${i}`, heartbeat, timeoutMs: 30_000 });
  c.onMessage = (f) => {
    const destination = f.headers.find(([name]) => name === 'destination')?.[1] ?? '';
    if (!destination.endsWith('/queue/chat')) return;
    chatTotal++;
    chatSeen.add(f.body.toString('latin1'));
  };
  try {
    await c.subscribe(`/user/${docOf(i)}/queue/chat`, 'chat', 30_000);
    await c.subscribe(`/topic/docs/${docOf(i)}/presence`, 'presence', 30_000);
  } catch (err) {
    c.ws.terminate();
    throw err;
  }
  live.add(c);
  current[i] = c;
  return c;
}

function watch(i: number, c: LeanStompClient): void {
  void c.closed.then(async () => {
    live.delete(c);
    if (current[i] === c) current[i] = undefined;
    if (!killed) closedEarly++;
    firstClose ??= performance.now();
    let backoff = 500;
    for (let attempt = 0; attempt < 50; attempt++) {
      await new Promise((r) => setTimeout(r, backoff + Math.random() * 2000));
      try {
        const again = await open(i, urls[1 + Math.floor(Math.random() * (urls.length - 1))]!);
        watch(i, again);
        if (++resubscribed === count)
          process.stdout.write(`${JSON.stringify({ msg: 'resubscribed', ms: performance.now() - firstClose })}\n`);
        return;
      } catch (err) {
        retries++;
        if (problems.length < 5) problems.push(String(err));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  });
}

// Heart-beats from the start: connecting thousands takes longer than the server waits for a beat.
// A tenth of the sessions beat each second (session k in tick k mod 10): each every 10 s.
let tick = 0;
const beat = setInterval(() => {
  const slot = tick++ % 10;
  for (let k = slot; k < count; k += 10) current[k]?.heartbeat();
}, 1000);

await inBatches(count, 200, async (i) => {
  try {
    watch(i, await open(i, urls[0]!));
  } catch (err) {
    problems.push(`first connect: ${String(err)}`);
  }
});
process.stdout.write(
  `${JSON.stringify({ msg: 'connected', count: live.size })}\n${JSON.stringify({ msg: 'ready' })}\n`,
);

const stop = () => {
  clearInterval(beat);
  process.stdout.write(
    `${JSON.stringify({ msg: 'closing', chatDistinct: chatSeen.size, chatTotal, retries, closedEarly, problems })}\n`,
  );
  for (const c of live) c.ws.terminate();
  setTimeout(() => process.exit(0), 200);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
