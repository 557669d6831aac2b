import { expect } from 'chai';
import { SignJWT } from 'jose';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { header } from '../../protocol/index.js';
import type { Principal } from '../../server/auth/authenticator.js';
import { DEFAULT_RULES, RuleListPolicy, type PolicyRule } from '../../server/auth/policy.js';
import { ConfigError, loadConfig } from '../../server/config.js';
import { createNode } from '../../server/node.js';
import { openRaw, type RawSocket } from '../helpers/raw-socket.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient, type TestClient } from '../helpers/stomp-client.js';
import { delay, waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const SECRET = 'authz-test-secret-0123456789abcdefghijkl';

const alice: Principal = { name: 'alice', anonymous: false };
const as = (name: string, docs?: string[]): Principal => ({ name, anonymous: false, ...(docs ? { docs } : {}) });

/** The rules of the policy file the live-node tests run with; docs/security.md shows the same (checked below). */
const FILE_RULES: PolicyRule[] = [
  { effect: 'allow', actions: ['subscribe'], destination: '/topic/private/{user}/**' },
  { effect: 'deny', actions: ['send', 'subscribe'], destination: '/topic/private/**' },
  { effect: 'allow', actions: ['send'], destination: '/topic/announce/**', users: ['root'] },
  { effect: 'deny', actions: ['send'], destination: '/topic/announce/**' },
  { effect: 'allow', actions: ['send', 'subscribe'], destination: '/topic/**' },
  { effect: 'allow', actions: ['send', 'subscribe'], destination: '/user/**' },
];

/** A raw STOMP 1.2 session with arbitrary CONNECT headers. */
async function rawSession(url: string, connectHeaders: Record<string, string>): Promise<RawSocket> {
  const s = await openRaw(url);
  const lines = Object.entries(connectHeaders)
    .map(([k, v]) => `${k}:${v}\n`)
    .join('');
  s.send(`CONNECT\naccept-version:1.2\n${lines}\n\0`);
  await s.next('CONNECTED');
  return s;
}

/** Sends `frame` (with receipt `x`) and returns the ERROR's message, receipt-id and the close code. */
async function refusal(
  s: RawSocket,
  frame: string,
): Promise<{ message: string | undefined; receipt: string | undefined; code: number }> {
  s.send(frame);
  const err = await s.next('ERROR');
  const { code } = await s.closed;
  return { message: header(err, 'message'), receipt: header(err, 'receipt-id'), code };
}

async function gauge(n: StartedNode, name: 'subscriptions' | 'connections'): Promise<number> {
  return (await n.node.metrics[name].get()).values[0]?.value ?? 0;
}

describe('destination policy (RuleListPolicy)', () => {
  it("allows Spring's prefixes by default and denies anything else", () => {
    const p = RuleListPolicy.defaults();
    for (const d of ['/app/chat/a/b/1', '/topic/x', '/queue/x', '/user/bob/queue/x'])
      expect(p.check('send', alice, d), d).to.deep.equal({ allowed: true });
    for (const d of ['/app/init', '/topic/**', '/queue/a.*', '/user/queue/x', '/user/42/queue/chat'])
      expect(p.check('subscribe', alice, d), d).to.deep.equal({ allowed: true });
    for (const d of ['/nowhere/x', '/', '/topicx', '/usr/x', '/**', '/*/queue/x']) {
      expect(p.check('send', alice, d).allowed, d).to.equal(false);
      expect(p.check('subscribe', alice, d).allowed, d).to.equal(false);
    }
    expect(DEFAULT_RULES.map((r) => r.destination)).to.deep.equal(['/app/**', '/topic/**', '/queue/**', '/user/**']);
  });

  it('is the policy docs/security.md shows, so the page says what these tests check', async () => {
    const page = await readFile('docs/security.md', 'utf8');
    const json = /```json\n([\s\S]*?)```/.exec(page)?.[1];
    expect(JSON.parse(json ?? '{}')).to.deep.equal({ rules: FILE_RULES });
  });

  it('lets the first matching rule decide, restricts rules to their users, and denies when no rule matches', () => {
    const p = new RuleListPolicy(FILE_RULES);
    expect(p.check('send', as('root'), '/topic/announce/all')).to.deep.equal({ allowed: true });
    expect(p.check('send', alice, '/topic/announce/all')).to.deep.equal({
      allowed: false,
      reason: 'denied by policy rule 3',
    });
    expect(p.check('subscribe', alice, '/topic/announce/all')).to.deep.equal({ allowed: true });
    expect(p.check('send', alice, '/queue/x')).to.deep.equal({ allowed: false, reason: 'no policy rule allows it' });
    expect(p.check('subscribe', alice, '/app/init').allowed).to.equal(false);
  });

  it("reads {user} as the principal's own name (a / as %2F), never as a wildcard", () => {
    const p = new RuleListPolicy(FILE_RULES);
    expect(p.check('subscribe', alice, '/topic/private/alice/inbox').allowed).to.equal(true);
    expect(p.check('subscribe', alice, '/topic/private/alice/**').allowed).to.equal(true);
    expect(p.check('subscribe', alice, '/topic/private/bob/inbox').allowed).to.equal(false);
    expect(p.check('subscribe', as('org/eve'), '/topic/private/org%2Feve/inbox').allowed).to.equal(true);
    expect(p.check('subscribe', as('org/eve'), '/topic/private/org/eve/inbox').allowed).to.equal(false);
    // a user whose name is pattern syntax gets exactly that literal segment, nothing wider
    for (const name of ['*', '**', '{x}', '?', 'a*']) {
      expect(p.check('subscribe', as(name), '/topic/private/bob/inbox').allowed, name).to.equal(false);
      expect(p.check('subscribe', as(name), '/topic/private/*/inbox').allowed, name).to.equal(false);
    }
  });

  it('allows a subscription pattern only when every destination it can match is allowed', () => {
    const p = new RuleListPolicy(FILE_RULES);
    // each of these could match /topic/private/bob/..., which alice may not read
    for (const d of [
      '/topic/**',
      '/topic/*/bob/inbox',
      '/topic/private/*/inbox',
      '/topic/private/**',
      '/topic/priv*/bob/x',
      '/topic/{a}/{b}/{c}',
      '/topic/private/{u:[a-z]+}/x',
    ]) {
      expect(p.check('subscribe', alice, d).allowed, d).to.equal(false);
    }
    for (const d of ['/topic/news/*', '/topic/news/**', '/topic/public?/x', '/topic/private/alice/*']) {
      expect(p.check('subscribe', alice, d).allowed, d).to.equal(true);
    }
    // a SEND destination is literal text: `*` in it is a character, matched by the rules as such
    expect(p.check('send', alice, '/topic/private/*/inbox').allowed).to.equal(false);
    expect(p.check('send', alice, '/topic/news/*').allowed).to.equal(true);
  });

  it('admits a principal carrying docs to those documents only', () => {
    const p = RuleListPolicy.defaults();
    const d1 = as('dan', ['d1']);
    for (const d of [
      '/topic/docs/d1/edits',
      '/topic/docs/d1/**',
      '/user/d1/queue/chat',
      '/user/queue/chat',
      '/topic/news',
      '/user/queue/errors',
    ]) {
      expect(p.check('subscribe', d1, d), d).to.deep.equal({ allowed: true });
    }
    for (const d of [
      '/topic/docs/d2/edits',
      '/user/d2/queue/chat',
      '/topic/docs/*/edits',
      '/topic/docs/{id}/edits',
      '/topic/**',
      '/topic/docs/**',
      '/user/**',
      '/user/*/queue/chat',
      '/user/d?/queue/chat',
      '/topic/docs/d2',
    ]) {
      const decision = p.check('subscribe', d1, d);
      expect(decision.allowed, d).to.equal(false);
    }
    expect(p.check('subscribe', d1, '/topic/docs/d2/edits')).to.deep.equal({
      allowed: false,
      reason: 'document "d2" is not among the principal\'s docs',
    });
    expect(p.check('send', d1, '/topic/docs/d1/edits').allowed).to.equal(true);
    for (const d of ['/topic/docs/d2/edits', '/topic/docs/*/edits', '/topic/docs/d2'])
      expect(p.check('send', d1, d).allowed, d).to.equal(false);
    // sending to a user in another document is messaging that user, not joining the document
    expect(p.check('send', d1, '/user/bob/d2/queue/chat').allowed).to.equal(true);
    expect(p.check('subscribe', as('nobody', []), '/topic/docs/d1/x').allowed).to.equal(false);
    expect(p.check('subscribe', as('free'), '/topic/docs/d2/edits').allowed).to.equal(true);
  });

  describe('AUTHZ_POLICY file', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'authz-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const bad: [string, string, RegExp][] = [
      ['not JSON', '{ rules: ', /is not valid JSON/],
      ['no rules array', '{"rule": []}', /"rules" array/],
      ['an unknown top-level key', '{"rules": [], "default": "allow"}', /unknown key "default"/],
      ['a rule that is not an object', '{"rules": ["allow all"]}', /rules\[0\] is not an object/],
      [
        'a misspelt key',
        '{"rules": [{"efect": "allow", "actions": ["send"], "destination": "/x"}]}',
        /rules\[0\]: unknown key "efect"/,
      ],
      [
        'a bad effect',
        '{"rules": [{"effect": "permit", "actions": ["send"], "destination": "/x"}]}',
        /rules\[0\]\.effect/,
      ],
      ['no actions', '{"rules": [{"effect": "allow", "actions": [], "destination": "/x"}]}', /rules\[0\]\.actions/],
      [
        'an unknown action',
        '{"rules": [{"effect": "allow", "actions": ["publish"], "destination": "/x"}]}',
        /rules\[0\]\.actions/,
      ],
      [
        'a relative destination',
        '{"rules": [{"effect": "allow", "actions": ["send"], "destination": "topic/x"}]}',
        /must start with \//,
      ],
      [
        'an unbalanced brace',
        '{"rules": [{"effect": "allow", "actions": ["send"], "destination": "/topic/{x"}]}',
        /unbalanced/,
      ],
      [
        '{user} inside a segment',
        '{"rules": [{"effect": "allow", "actions": ["send"], "destination": "/topic/chat-{user}"}]}',
        /\{user\} must be a whole segment/,
      ],
      [
        'a catastrophic regex',
        '{"rules": [{"effect": "allow", "actions": ["send"], "destination": "/topic/{x:(a+)+}"}]}',
        /nested quantifiers/,
      ],
      [
        'users that are not names',
        '{"rules": [{"effect": "allow", "actions": ["send"], "destination": "/x", "users": "root"}]}',
        /users must be an array/,
      ],
    ];
    for (const [what, text, message] of bad) {
      it(`refuses ${what} with a ConfigError naming AUTHZ_POLICY`, async () => {
        const file = path.join(dir, 'bad.json');
        await writeFile(file, text);
        expect(() => RuleListPolicy.fromFile(file))
          .to.throw(ConfigError)
          .that.satisfies((e: ConfigError) => e.variable === 'AUTHZ_POLICY' && message.test(e.message));
      });
    }

    it('refuses a missing file, and createNode refuses to start with it', async () => {
      const missing = path.join(dir, 'nope.json');
      expect(() => RuleListPolicy.fromFile(missing)).to.throw(
        ConfigError,
        /invalid AUTHZ_POLICY: .* cannot be read \(ENOENT\)/,
      );
      const err = await createNode(loadConfig({ PORT: '0', AUTHZ_POLICY: missing })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(ConfigError).with.property('variable', 'AUTHZ_POLICY');
    });

    it('stops start-up with one line and exit code 2 on a bad policy file', async () => {
      const file = path.join(dir, 'broken.json');
      await writeFile(file, '{"rules": [{"effect": "maybe"}]}');
      const err = await run(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
        env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', AUTHZ_POLICY: file },
        timeout: 20_000,
      }).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).to.equal(2);
      expect(err?.stderr.trim()).to.equal(
        `invalid AUTHZ_POLICY: ${JSON.stringify(file)}: rules[0].effect must be "allow" or "deny"`,
      );
    });

    it('loads a valid file', async () => {
      const file = path.join(dir, 'ok.json');
      await writeFile(file, JSON.stringify({ rules: FILE_RULES }));
      const p = RuleListPolicy.fromFile(file);
      expect(p.check('subscribe', alice, '/topic/private/alice/x').allowed).to.equal(true);
      expect(p.check('subscribe', alice, '/topic/private/bob/x').allowed).to.equal(false);
    });
  });
});

describe('authorization on a live node', () => {
  const clients: TestClient[] = [];
  const raws: RawSocket[] = [];
  afterEach(async () => {
    for (const r of raws.splice(0)) r.close();
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  });

  describe('default policy', () => {
    let n: StartedNode;
    before(async () => {
      n = await startNode();
      n.node.app
        .onMessage('/ping', () => ({ pong: true }))
        .onSubscribe('/hello', ({ message }) => ({ hello: message.user }));
    });
    after(async () => {
      await n.stop();
    });

    it('allows SEND and SUBSCRIBE on /app, /topic, /queue and /user', async () => {
      const a = await connectClient(n.url, { login: 'ana' });
      const b = await connectClient(n.url, { login: 'bo' });
      clients.push(a, b);
      const topic = await b.subscribeWithReceipt('/topic/t');
      const queue = await b.subscribeWithReceipt('/queue/q');
      const user = await b.subscribeWithReceipt('/user/queue/u');
      const pong = await b.subscribeWithReceipt('/topic/ping');
      const hello = b.subscribe('/app/hello');
      await a.sendWithReceipt('/topic/t', 't');
      await a.sendWithReceipt('/queue/q', 'q');
      await a.sendWithReceipt('/user/bo/queue/u', 'u');
      await a.sendWithReceipt('/app/ping');
      expect((await topic.wait(1))[0]!.body).to.equal('t');
      expect((await queue.wait(1))[0]!.body).to.equal('q');
      expect((await user.wait(1))[0]!.body).to.equal('u');
      expect(JSON.parse((await pong.wait(1))[0]!.body)).to.deep.equal({ pong: true });
      expect(JSON.parse((await hello.wait(1))[0]!.body)).to.deep.equal({ hello: 'bo' });
      expect(a.errors).to.have.length(0);
      expect(b.errors).to.have.length(0);
    });

    it('drops SEND and SUBSCRIBE to a destination with no known prefix silently (nothing to authorize), as Spring does', async () => {
      const s = await rawSession(n.url, { login: 'np' });
      raws.push(s);
      s.send('SUBSCRIBE\nid:1\ndestination:/nowhere/x\nreceipt:s\n\n\0');
      s.send('SEND\ndestination:/nowhere/x\nreceipt:p\n\nlost\0');
      expect(header(await s.next('RECEIPT'), 'receipt-id')).to.equal('s');
      expect(header(await s.next('RECEIPT'), 'receipt-id')).to.equal('p');
      expect(s.frames.filter((f) => f.command === 'ERROR')).to.have.length(0);
    });
  });

  describe('with an AUTHZ_POLICY file', () => {
    let n: StartedNode;
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'authz-live-'));
      const file = path.join(dir, 'policy.json');
      await writeFile(file, JSON.stringify({ rules: FILE_RULES }, null, 2));
      n = await startNode({ AUTHZ_POLICY: file });
    });
    after(async () => {
      await n.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('allows a principal its own private topic and the public ones', async () => {
      const al = await connectClient(n.url, { login: 'alice' });
      const root = await connectClient(n.url, { login: 'root' });
      clients.push(al, root);
      const own = await al.subscribeWithReceipt('/topic/private/alice/inbox');
      const news = await al.subscribeWithReceipt('/topic/announce/*');
      await n.node.template.convertAndSend('/topic/private/alice/inbox', 'for alice');
      await root.sendWithReceipt('/topic/announce/all', 'from root');
      expect((await own.wait(1))[0]!.body).to.equal('for alice');
      expect((await news.wait(1))[0]!.body).to.equal('from root');
      expect(al.errors).to.have.length(0);
    });

    it('answers a denied SUBSCRIBE with ERROR FORBIDDEN (with receipt-id) and close 1008, registering nothing', async () => {
      const bob = await connectClient(n.url, { login: 'bob' });
      clients.push(bob);
      const inbox = await bob.subscribeWithReceipt('/topic/private/bob/inbox');
      const before = await gauge(n, 'subscriptions');
      for (const destination of [
        '/topic/private/bob/inbox',
        '/topic/private/*/inbox',
        '/topic/**',
        '/topic/*/bob/inbox',
        '/app/init',
        '/queue/x',
      ]) {
        const s = await rawSession(n.url, { login: 'alice' });
        raws.push(s);
        const r = await refusal(s, `SUBSCRIBE\nid:1\ndestination:${destination}\nreceipt:sub-1\n\n\0`);
        expect(r.message, destination).to.match(/^SUBSCRIBE to .* is not allowed: /);
        expect(r.receipt).to.equal('sub-1');
        expect(r.code).to.equal(1008);
      }
      expect(
        await waitFor(async () => (await gauge(n, 'subscriptions')) === before, 'subscriptions gauge unchanged'),
      ).to.equal(true);
      await n.node.template.convertAndSend('/topic/private/bob/inbox', 'for bob only');
      expect((await inbox.wait(1)).map((m) => m.body)).to.deep.equal(['for bob only']);
      const forbidden = (await n.node.metrics.errors.get()).values.find((v) => v.labels.code === 'FORBIDDEN');
      expect(forbidden?.value).to.be.at.least(6);
    });

    it('answers a denied SEND with ERROR FORBIDDEN and close 1008, delivering nothing', async () => {
      const watcher = await connectClient(n.url, { login: 'root' });
      clients.push(watcher);
      const announce = await watcher.subscribeWithReceipt('/topic/announce/all');
      const s = await rawSession(n.url, { login: 'alice' });
      raws.push(s);
      const r = await refusal(s, 'SEND\ndestination:/topic/announce/all\nreceipt:p-1\n\nfake announcement\0');
      expect(r).to.deep.equal({
        message: 'SEND to /topic/announce/all is not allowed: denied by policy rule 3',
        receipt: 'p-1',
        code: 1008,
      });
      await watcher.sendWithReceipt('/topic/announce/all', 'real');
      await announce.wait(1);
      await delay(50);
      expect(announce.bodies()).to.deep.equal(['real']);
    });

    it('refuses a denied SEND inside a transaction at COMMIT', async () => {
      const watcher = await connectClient(n.url, { login: 'root' });
      clients.push(watcher);
      const announce = await watcher.subscribeWithReceipt('/topic/announce/tx');
      const s = await rawSession(n.url, { login: 'alice' });
      raws.push(s);
      s.send('BEGIN\ntransaction:t1\n\n\0SEND\ndestination:/topic/announce/tx\ntransaction:t1\n\nsneaky\0');
      const r = await refusal(s, 'COMMIT\ntransaction:t1\nreceipt:c\n\n\0');
      expect(r.message).to.contain('SEND to /topic/announce/tx is not allowed');
      expect(r.code).to.equal(1008);
      await delay(50);
      expect(announce.messages).to.have.length(0);
    });
  });

  describe('document admission from the JWT docs claim', () => {
    let n: StartedNode;
    const token = (claims: Record<string, unknown>) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(SECRET));
    const bearer = async (claims: Record<string, unknown>) => ({ Authorization: `Bearer ${await token(claims)}` });
    before(async () => {
      n = await startNode({ AUTH_MODE: 'jwt', JWT_SECRET: SECRET });
    });
    after(async () => {
      await n.stop();
    });

    it("admits the token's documents on /topic/docs/{docId}/** and /user/{docId}/queue/**", async () => {
      const dan = await connectClient(n.url, { connectHeaders: await bearer({ sub: 'dan', docs: ['d1', 'd3'] }) });
      const eve = await connectClient(n.url, { connectHeaders: await bearer({ sub: 'eve', docs: ['d1'] }) });
      clients.push(dan, eve);
      const edits = await dan.subscribeWithReceipt('/topic/docs/d1/edits');
      const chat = await dan.subscribeWithReceipt('/user/d3/queue/chat');
      const plain = await dan.subscribeWithReceipt('/user/queue/notice');
      await eve.sendWithReceipt('/topic/docs/d1/edits', 'edit');
      await n.node.template.convertAndSendToUser('dan', '/d3/queue/chat', 'chat');
      await n.node.template.convertAndSendToUser('dan', '/queue/notice', 'notice');
      expect((await edits.wait(1))[0]!.body).to.equal('edit');
      expect((await chat.wait(1))[0]!.body).to.equal('chat');
      expect((await plain.wait(1))[0]!.body).to.equal('notice');
      expect((await n.node.registry.presence('d1')).map((p) => p.userId)).to.include('dan');
    });

    it('refuses other documents, and patterns that may reach them, for SUBSCRIBE and SEND', async () => {
      const attempts = [
        'SUBSCRIBE\nid:1\ndestination:/topic/docs/d2/edits\n\n\0',
        'SUBSCRIBE\nid:1\ndestination:/user/d2/queue/chat\n\n\0',
        'SUBSCRIBE\nid:1\ndestination:/topic/docs/*/edits\n\n\0',
        'SUBSCRIBE\nid:1\ndestination:/topic/docs/**\n\n\0',
        'SUBSCRIBE\nid:1\ndestination:/topic/**\n\n\0',
        'SUBSCRIBE\nid:1\ndestination:/user/**\n\n\0',
        'SUBSCRIBE\nid:1\ndestination:/user/{doc}/queue/chat\n\n\0',
        'SEND\ndestination:/topic/docs/d2/edits\n\nvandalism\0',
        'SEND\ndestination:/topic/docs/*/edits\n\nvandalism\0',
      ];
      for (const frame of attempts) {
        const s = await rawSession(n.url, await bearer({ sub: 'dan', docs: ['d1'] }));
        raws.push(s);
        const r = await refusal(s, frame);
        expect(r.message, frame).to.match(
          /is not allowed: (document "(d2|\*)" is not among the principal's docs|the pattern may reach documents outside)/,
        );
        expect(r.code).to.equal(1008);
      }
      expect((await n.node.registry.presence('d2')).map((p) => p.userId)).to.not.include('dan');
    });

    it('admits every document to a token without a docs claim', async () => {
      const c = await connectClient(n.url, { connectHeaders: await bearer({ sub: 'admin' }) });
      clients.push(c);
      await c.subscribeWithReceipt('/topic/docs/d9/edits');
      await c.subscribeWithReceipt('/topic/docs/*/edits');
      await c.sendWithReceipt('/topic/docs/d9/edits', 'x');
      expect(c.errors).to.have.length(0);
    });

    it('refuses a token whose docs claim is not a list of document ids', async () => {
      for (const docs of ['d1', [1, 2], { d1: true }, ['d1', null]]) {
        const err = await connectClient(n.url, { connectHeaders: await bearer({ sub: 'dan', docs }) }).then(
          (c) => {
            clients.push(c);
            return 'connected';
          },
          (e: Error) => e.message,
        );
        expect(err, JSON.stringify(docs)).to.contain('docs claim');
      }
    });

    it('admits every document in dev mode, where there are no claims', async () => {
      const dev = await startNode();
      try {
        const c = await connectClient(dev.url, { login: 'dan' });
        await c.subscribeWithReceipt('/topic/docs/d2/edits');
        await c.subscribeWithReceipt('/user/d2/queue/chat');
        expect(c.errors).to.have.length(0);
        await c.disconnect();
      } finally {
        await dev.stop();
      }
    });
  });
});
