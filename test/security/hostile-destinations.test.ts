import { expect } from 'chai';
import { header } from '../../protocol/index.js';
import { openRaw, type RawSocket } from '../helpers/raw-socket.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient, type Inbox, type TestClient } from '../helpers/stomp-client.js';
import { delay, waitFor } from '../helpers/wait.js';

/** How the node answered one hostile frame: it took it (RECEIPT) or refused it (ERROR + close). */
type Outcome = { kind: 'taken'; socket: RawSocket } | { kind: 'refused'; message: string; code: number };

async function rawLogin(url: string, login: string): Promise<RawSocket> {
  const s = await openRaw(url);
  s.send(`CONNECT\naccept-version:1.2\nlogin:${login}\n\n\0`);
  await s.next('CONNECTED');
  return s;
}

/** Sends `frame` (which carries `receipt:x`) and waits for the RECEIPT or the ERROR. */
async function attempt(s: RawSocket, frame: string | Buffer): Promise<Outcome> {
  s.send(frame);
  const answer = await waitFor(
    () => s.frames.find((f) => f.command === 'RECEIPT' || f.command === 'ERROR'),
    'RECEIPT or ERROR',
  );
  if (answer.command === 'RECEIPT') return { kind: 'taken', socket: s };
  const { code } = await s.closed;
  return { kind: 'refused', message: header(answer, 'message') ?? '', code };
}

const sub = (destination: string, extra = '') => `SUBSCRIBE\nid:a\ndestination:${destination}\n${extra}receipt:x\n\n\0`;

describe("hostile destinations: reaching another user's messages", () => {
  let n: StartedNode;
  let victim: TestClient;
  let sam: TestClient;
  let secret: Inbox;
  let docChat: Inbox;
  const attackers: RawSocket[] = [];

  before(async () => {
    n = await startNode();
    victim = await connectClient(n.url, { login: 'vic' });
    sam = await connectClient(n.url, { login: 'sam' });
    secret = await victim.subscribeWithReceipt('/user/queue/secret');
    docChat = await victim.subscribeWithReceipt('/user/42/queue/chat');
  });
  after(async () => {
    for (const a of attackers) a.close();
    await victim.disconnect();
    await sam.disconnect();
    await n.stop();
  });

  /** Subscriptions the node accepts but that can only ever see the attacker's own messages. */
  const accepted: [string, string][] = [
    ["another user's name in the /user prefix", sub('/user/vic/queue/secret')],
    ["another user's name before a document", sub('/user/vic/42/queue/chat')],
    ["the victim's exact destination, as the attacker", sub('/user/queue/secret')],
    ["the victim's document destination, as the attacker", sub('/user/42/queue/chat')],
    ['a wildcard user segment', sub('/user/*/queue/secret')],
    ['every user destination', sub('/user/**')],
    ['a {var} user segment', sub('/user/{u}/queue/secret')],
    ['a ? user segment', sub('/user/?ic/queue/secret')],
    ['an encoded slash %2F', sub('/user/vic%2Fqueue/secret')],
    ['a lower-case %2f', sub('/user/vic%2fqueue%2fsecret')],
    ['a leading %2F', sub('/user/%2Fvic/queue/secret')],
    ['a double-encoded %252F', sub('/user/vic%252Fqueue/secret')],
    ['an encoded backslash %5C', sub('/user/vic%5Cqueue/secret')],
    ['an encoded dot-dot %2E%2E', sub('/user/%2E%2E/vic/queue/secret')],
    ['a Unicode division slash', sub('/user/vic\u2215queue\u2215secret')],
    ['a fullwidth solidus', sub('/user/vic\uff0fqueue/secret')],
    ["Spring's internal per-session queue name", sub('/queue/secret-uservic')],
    ['a wildcard over internal queue names', sub('/queue/secret-user*')],
    ['every queue', sub('/queue/**')],
    ['every topic', sub('/topic/**')],
    [
      'a destination header repeated (the first wins)',
      'SUBSCRIBE\nid:a\ndestination:/user/queue/mine\ndestination:/user/vic/queue/secret\nreceipt:x\n\n\0',
    ],
    [
      'identity headers on SUBSCRIBE',
      sub('/user/queue/secret', 'user:vic\nuser-name:vic\nlogin:vic\nsimpUser:vic\nsimpSessionId:x\n'),
    ],
    ['a long id under the destination limit', sub(`/user/${'v'.repeat(900)}/queue/secret`)],
  ];

  /** Subscriptions the node refuses with an ERROR frame and a close. */
  const refused: [string, string | Buffer, RegExp][] = [
    ['a .. segment', sub('/user/../user/vic/queue/secret'), /empty, \. or \.\. segment/],
    ['.. after the user prefix', sub('/user/queue/../../vic/queue/secret'), /empty, \. or \.\. segment/],
    ['a trailing ..', sub('/user/queue/secret/..'), /empty, \. or \.\. segment/],
    ['a . segment', sub('/user/./queue/secret'), /empty, \. or \.\. segment/],
    ['a leading //', sub('//user/vic/queue/secret'), /empty, \. or \.\. segment/],
    ['an empty segment //', sub('/user//queue/secret'), /empty, \. or \.\. segment/],
    ['an empty segment after the name', sub('/user/vic//queue/secret'), /empty, \. or \.\. segment/],
    ['an escaped newline (\\n)', sub('/user/vic\\n/queue/secret'), /control characters/],
    ['an escaped carriage return (\\r)', sub('/user/vic\\r/queue/secret'), /control characters/],
    ['a raw control byte 0x01', sub('/user/vic\u0001/queue/secret'), /control characters/],
    ['a DEL byte', sub('/user/vic\u007f/queue/secret'), /control characters/],
    [
      'a NUL inside the header',
      Buffer.from('SUBSCRIBE\nid:a\ndestination:/user/vic\0/queue/secret\nreceipt:x\n\n\0'),
      /./,
    ],
    ['a very long user id', sub(`/user/${'v'.repeat(2000)}/queue/secret`), /longer than 1024 characters/],
    ['a header line over MAX_HEADER_LINE_BYTES', sub(`/user/${'v'.repeat(9000)}/queue/secret`), /./],
    ['a pattern over the pattern length limit', sub(`/user/*/${'a'.repeat(300)}`), /invalid destination pattern/],
    ['a catastrophic regex variable', sub('/user/{u:(a+)+}/queue/secret'), /nested quantifiers/],
    ['an empty destination', sub(''), /must start with \//],
    ['a destination without leading /', sub('user/vic/queue/secret'), /must start with \//],
  ];

  const outcomes: { what: string; outcome: Outcome }[] = [];

  it("accepts subscriptions that can only see the attacker's own messages", async () => {
    for (const [what, frame] of accepted) {
      const s = await rawLogin(n.url, 'mal');
      attackers.push(s);
      const outcome = await attempt(s, frame);
      expect(outcome.kind, what).to.equal('taken');
      outcomes.push({ what, outcome });
    }
  });

  it('refuses path tricks, control characters, over-long ids and bad patterns with a clear ERROR', async () => {
    for (const [what, frame, message] of refused) {
      const s = await rawLogin(n.url, 'mal');
      attackers.push(s);
      const outcome = await attempt(s, frame);
      expect(outcome.kind, what).to.equal('refused');
      if (outcome.kind === 'refused') {
        expect(outcome.message, what).to.match(message);
        expect(outcome.code, what).to.equal(1002);
      }
    }
  });

  it("attackers that claim the victim's name in other spellings get their own user, not the victim", async () => {
    for (const login of ['VIC', 'vic ', ' vic', 'vic\u200b', 'vic/', 'vic\\c']) {
      const s = await rawLogin(n.url, login);
      attackers.push(s);
      const outcome = await attempt(s, sub('/user/queue/secret'));
      expect(outcome.kind, JSON.stringify(login)).to.equal('taken');
      outcomes.push({ what: `login ${JSON.stringify(login)}`, outcome });
    }
    for (const login of ['vic%2F', 'vic%2f..', 'vic\u0001']) {
      const s = await openRaw(n.url);
      s.send(`CONNECT\naccept-version:1.2\nlogin:${login}\n\n\0`);
      expect(header(await s.next('ERROR'), 'message'), JSON.stringify(login)).to.contain('invalid login');
      expect((await s.closed).code).to.equal(1008);
    }
  });

  it("delivers the victim's messages to the victim and to none of the attackers", async () => {
    await n.node.template.convertAndSendToUser('vic', '/queue/secret', 'secret from the backend');
    await n.node.template.convertAndSendToUser('vic', '/42/queue/chat', 'document chat');
    await sam.sendWithReceipt('/user/vic/queue/secret', 'secret from sam');
    expect((await secret.wait(2)).map((m) => m.body)).to.deep.equal(['secret from the backend', 'secret from sam']);
    expect((await docChat.wait(1))[0]!.body).to.equal('document chat');
    await delay(200);
    for (const { what, outcome } of outcomes) {
      if (outcome.kind !== 'taken') continue;
      // Document presence (/topic/docs/{docId}/presence) is public to subscribers of the topic;
      // the attackers' own joins show up there for the /topic/** subscription. Nothing else may.
      const got = outcome.socket.frames.filter(
        (f) => f.command === 'MESSAGE' && !/^\/topic\/docs\/[^/]+\/presence$/.test(header(f, 'destination') ?? ''),
      );
      expect(
        got.map((f) => `${header(f, 'destination')}: ${f.body.toString()}`),
        what,
      ).to.deep.equal([]);
    }
    expect(outcomes.length).to.equal(accepted.length + 6);
  });

  it("does not let a sender forge the recipient's subscription or ack headers", async () => {
    const mal = await rawLogin(n.url, 'mal');
    attackers.push(mal);
    mal.send(
      'SEND\ndestination:/user/vic/queue/secret\nsubscription:forged\nack:forged\nredelivered:true\nx-note:hi\nreceipt:x\n\nforged headers\0',
    );
    await mal.next('RECEIPT');
    const m = (await secret.wait(3))[2];
    expect(m!.body).to.equal('forged headers');
    expect(m!.headers.subscription).to.equal(secret.subscription.id);
    expect(m!.headers.ack).to.equal(undefined);
    expect(m!.headers.redelivered).to.equal(undefined);
    expect(m!.headers['x-note']).to.equal('hi');
    expect(mal.frames.filter((f) => f.command === 'MESSAGE')).to.have.length(0);
  });
});

describe("spoofed chat sender (the seed's /app/chat/{from}/{to}/{docId})", () => {
  let n: StartedNode;
  const clients: TestClient[] = [];
  before(async () => {
    n = await startNode();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.disconnect()));
    await n.stop();
  });

  it('refuses a chat whose from is not the sender, whatever its spelling, and delivers nothing', async () => {
    const mal = await connectClient(n.url, { login: 'mal' });
    const bob = await connectClient(n.url, { login: 'bob' });
    clients.push(mal, bob);
    const errors = await mal.subscribeWithReceipt('/user/queue/errors');
    const chat = await bob.subscribeWithReceipt('/user/42/queue/chat');
    const forged = [
      '/app/chat/vic/bob/42',
      '/app/chat/VIC/bob/42',
      '/app/chat/mal%2F..%2Fvic/bob/42',
      '/app/chat/{from}/bob/42',
      '/app/chat/*/bob/42',
      '/app/chat/ mal/bob/42',
    ];
    for (const destination of forged) await mal.sendWithReceipt(destination, 'pretending');
    const refusals = (await errors.wait(forged.length)).map(
      (m) => JSON.parse(m.body) as { error: string; destination: string },
    );
    expect(refusals.map((r) => r.destination)).to.deep.equal(forged);
    for (const r of refusals) expect(r.error).to.contain('"from" must be your own user id (mal)');
    // A fence: mal's honest message, sent after the forged ones, is the only one bob gets.
    await mal.sendWithReceipt('/app/chat/mal/bob/42', 'honest');
    await chat.wait(1);
    expect(chat.messages.map((m) => (JSON.parse(m.body) as { content: string }).content)).to.deep.equal(['honest']);
    expect(mal.errors).to.have.length(0); // a rejection, not an ERROR: the connection stays open
  });

  it('stamps the authenticated sender as from, whatever the body says', async () => {
    const mal = await connectClient(n.url, { login: 'mal' });
    const bob = await connectClient(n.url, { login: 'bob' });
    clients.push(mal, bob);
    const chat = await bob.subscribeWithReceipt('/user/7/queue/chat');
    await mal.sendWithReceipt('/app/chat/mal/bob/7', JSON.stringify({ from: 'vic', content: 'trust me' }), {
      from: 'vic',
      'user-name': 'vic',
    });
    const body = JSON.parse((await chat.wait(1))[0]!.body) as Record<string, string>;
    expect(body.from).to.equal('mal');
    expect(body.content).to.equal(JSON.stringify({ from: 'vic', content: 'trust me' }));
  });
});
