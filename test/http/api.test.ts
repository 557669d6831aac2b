import { expect } from 'chai';
import { MemoryRegistry } from '../../server/registry/memory-registry.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { connectClient, type Inbox, type TestClient } from '../helpers/stomp-client.js';
import { waitFor } from '../helpers/wait.js';
import { expectError, get, jsonOf, post, pushToUser, request } from './http-client.js';

interface PushAnswer {
  id: string;
  status: 'routed' | 'stored';
}
interface PresenceAnswer {
  docId: string;
  users: { userId: string; node: string; sessions: number; nodes: Record<string, number> }[];
}

let userSeq = 0;
/** A user id of its own per test, so no test sees another's sessions or offline inbox. */
const user = (name: string) => `${name}-${++userSeq}`;

/** Sends one good message after a refused one: if the refused one had been half-done, it would arrive first. */
async function expectNothingBefore(base: string, who: string, inbox: Inbox, destination = '/queue/x'): Promise<void> {
  const fence = await pushToUser(base, who, { destination, body: { fence: true } });
  expect(fence.status).to.equal(202);
  const [first] = await inbox.wait(1);
  expect(JSON.parse(first!.body)).to.deep.equal({ fence: true });
  expect(inbox.messages).to.have.length(1);
}

describe('HTTP API (SPEC §6)', function () {
  let n: StartedNode;
  const clients: TestClient[] = [];
  const connect = async (login: string) => {
    const c = await connectClient(n.url, { login });
    clients.push(c);
    return c;
  };

  before(async () => {
    n = await startNode();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  });
  after(async () => {
    await n?.stop();
  });

  describe('POST /api/users/{userId}/messages', function () {
    it("answers 202 routed and delivers to the user's /user/queue/x subscription with the custom headers", async () => {
      const bob = user('bob');
      const c = await connect(bob);
      const inbox = await c.subscribeWithReceipt('/user/queue/x');

      const res = await pushToUser(n.http, bob, {
        destination: '/queue/x',
        body: { text: 'report ready' },
        headers: { priority: 7, 'x-job': 'r1' },
      });

      expect(res.status).to.equal(202);
      const answer = jsonOf<PushAnswer>(res);
      expect(answer).to.have.all.keys('id', 'status');
      expect(answer.status).to.equal('routed');
      expect(answer.id).to.be.a('string').and.not.equal('');
      const [m] = await inbox.wait(1);
      expect(JSON.parse(m!.body)).to.deep.equal({ text: 'report ready' });
      expect(m!.headers.destination).to.equal('/user/queue/x');
      expect(m!.headers['content-type']).to.match(/^application\/json/);
      expect(m!.headers.priority).to.equal('7');
      expect(m!.headers['x-job']).to.equal('r1');
    });

    it("delivers a /{docId}/queue/chat message on /user/{docId}/queue/chat, the seed's customer-service reply", async () => {
      const bob = user('bob');
      const c = await connect(bob);
      const chat = await c.subscribeWithReceipt('/user/42/queue/chat');
      const other = await c.subscribeWithReceipt('/user/43/queue/chat');

      const res = await pushToUser(n.http, bob, {
        destination: '/42/queue/chat',
        body: { from: 'support', content: 'we fixed it' },
      });

      expect(res.status).to.equal(202);
      expect(jsonOf<PushAnswer>(res).status).to.equal('routed');
      const [m] = await chat.wait(1);
      expect(m!.headers.destination).to.equal('/user/42/queue/chat');
      expect(JSON.parse(m!.body)).to.deep.equal({ from: 'support', content: 'we fixed it' });
      await expectNothingBefore(n.http, bob, other, '/43/queue/chat');
    });

    it('sends a string body as text/plain, as Spring converts a String', async () => {
      const bob = user('bob');
      const inbox = await (await connect(bob)).subscribeWithReceipt('/user/queue/x');
      expect((await pushToUser(n.http, bob, { destination: '/queue/x', body: 'plain text' })).status).to.equal(202);
      const [m] = await inbox.wait(1);
      expect(m!.body).to.equal('plain text');
      expect(m!.headers['content-type']).to.match(/^text\/plain/);
    });

    it("reaches every session of the user and never another user's subscription", async () => {
      const bob = user('bob');
      const carol = user('carol');
      const first = await (await connect(bob)).subscribeWithReceipt('/user/queue/x');
      const second = await (await connect(bob)).subscribeWithReceipt('/user/queue/x');
      const carols = await (await connect(carol)).subscribeWithReceipt('/user/queue/x');

      expect((await pushToUser(n.http, bob, { destination: '/queue/x', body: { n: 1 } })).status).to.equal(202);

      await first.wait(1);
      await second.wait(1);
      await expectNothingBefore(n.http, carol, carols);
    });

    it('accepts a user id with a slash (percent-encoded in the path)', async () => {
      const name = `team/${user('ops')}`;
      const inbox = await (await connect(name)).subscribeWithReceipt('/user/queue/x');
      const res = await pushToUser(n.http, name, { destination: '/queue/x', body: { ok: true } });
      expect(res.status, res.text).to.equal(202);
      expect(JSON.parse((await inbox.wait(1))[0]!.body)).to.deep.equal({ ok: true });
    });

    it('answers 202 stored for a user with no session, and delivers in order at the next subscription', async () => {
      const dora = user('dora');
      const ids: string[] = [];
      for (const step of [1, 2, 3]) {
        const res = await pushToUser(n.http, dora, { destination: '/queue/x', body: { step } });
        expect(res.status).to.equal(202);
        expect(jsonOf<PushAnswer>(res).status).to.equal('stored');
        ids.push(jsonOf<PushAnswer>(res).id);
      }
      expect(new Set(ids).size).to.equal(3);

      const inbox = (await connect(dora)).subscribe('/user/queue/x');
      const got = await inbox.wait(3);
      expect(got.map((m): unknown => JSON.parse(m.body))).to.deep.equal([{ step: 1 }, { step: 2 }, { step: 3 }]);
    });
  });

  describe('POST /api/broadcast', function () {
    it('answers 202 and reaches every subscriber of the topic, plain and pattern', async () => {
      const a = await (await connect(user('a'))).subscribeWithReceipt('/topic/news');
      const b = await (await connect(user('b'))).subscribeWithReceipt('/topic/*');

      const res = await post(n.http, '/api/broadcast', {
        destination: '/topic/news',
        body: { headline: 'up' },
        headers: { edition: 'morning' },
      });

      expect(res.status).to.equal(202);
      expect(res.json).to.deep.equal({ status: 'accepted' });
      for (const inbox of [a, b]) {
        const [m] = await inbox.wait(1);
        expect(JSON.parse(m!.body)).to.deep.equal({ headline: 'up' });
        expect(m!.headers.destination).to.equal('/topic/news');
        expect(m!.headers.edition).to.equal('morning');
      }
    });

    it('refuses a destination outside /topic and /queue with 400 BAD_REQUEST', async () => {
      for (const destination of ['/app/chat/a/b/42', '/user/bob/queue/x', 'topic/news']) {
        expectError(await post(n.http, '/api/broadcast', { destination, body: 1 }), 400, 'BAD_REQUEST');
      }
    });
  });

  describe('GET /api/docs/{docId}/presence', function () {
    it('lists the users subscribed to a document with their node, and forgets them when they leave', async () => {
      const doc = `doc-${++userSeq}`;
      const alice = user('alice');
      const bob = user('bob');
      const a = await connect(alice);
      await a.subscribeWithReceipt(`/user/${doc}/queue/chat`);
      await a.subscribeWithReceipt(`/topic/docs/${doc}/sections/1`);
      const b = await connect(bob);
      const bobs = await b.subscribeWithReceipt(`/topic/docs/${doc}/presence`);

      const res = await get(n.http, `/api/docs/${doc}/presence`);
      expect(res.status).to.equal(200);
      const answer = jsonOf<PresenceAnswer>(res);
      expect(answer.docId).to.equal(doc);
      const byUser = new Map(answer.users.map((u) => [u.userId, u]));
      expect([...byUser.keys()].sort()).to.deep.equal([alice, bob].sort());
      expect(byUser.get(alice)).to.deep.equal({
        userId: alice,
        node: n.node.nodeId,
        sessions: 1,
        nodes: { [n.node.nodeId]: 1 },
      });
      expect(byUser.get(bob)?.node).to.equal(n.node.nodeId);

      bobs.subscription.unsubscribe();
      await waitFor(async () => {
        const users = jsonOf<PresenceAnswer>(await get(n.http, `/api/docs/${doc}/presence`)).users;
        return users.length === 1 && users[0]!.userId === alice;
      }, 'bob to leave the document at his last unsubscription');
      await a.disconnect();
      await waitFor(
        async () => jsonOf<PresenceAnswer>(await get(n.http, `/api/docs/${doc}/presence`)).users.length === 0,
        'alice to leave at disconnect',
      );
    });

    it('answers an empty list for a document nobody has open', async () => {
      const res = await get(n.http, '/api/docs/nobody-here/presence');
      expect(res.status).to.equal(200);
      expect(res.json).to.deep.equal({ docId: 'nobody-here', users: [] });
    });
  });

  describe('health and metrics', function () {
    it('GET /healthz answers 200 with the node id', async () => {
      const res = await get(n.http, '/healthz');
      expect(res.status).to.equal(200);
      expect(res.json).to.deep.include({ status: 'ok', node: n.node.nodeId });
    });

    it('GET /readyz answers 200 when the node can deliver', async () => {
      const res = await get(n.http, '/readyz');
      expect(res.status).to.equal(200);
      expect(res.json).to.deep.include({ ready: true, node: n.node.nodeId });
    });

    it('GET /metrics is Prometheus text with connections, sessions, frames, deliveries, errors and latency', async () => {
      const bob = user('bob');
      const inbox = await (await connect(bob)).subscribeWithReceipt('/user/queue/x');
      await pushToUser(n.http, bob, { destination: '/queue/x', body: 1 });
      await inbox.wait(1);
      expectError(
        await request(n.http, 'POST', '/api/broadcast', { raw: '{', type: 'application/json' }),
        400,
        'BAD_JSON',
      );

      const res = await get(n.http, '/metrics');
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
      const text = res.text;
      for (const [name, type] of [
        ['stomp_connections', 'gauge'],
        ['stomp_sessions', 'gauge'],
        ['stomp_subscriptions', 'gauge'],
        ['stomp_frames_in_total', 'counter'],
        ['stomp_frames_out_total', 'counter'],
        ['stomp_relay_published_total', 'counter'],
        ['stomp_broadcast_published_total', 'counter'],
        ['stomp_deliveries_total', 'counter'],
        ['stomp_errors_total', 'counter'],
        ['stomp_delivery_latency_seconds', 'histogram'],
      ] as const) {
        expect(text, name).to.include(`# TYPE ${name} ${type}`);
      }
      const value = (sample: string) =>
        Number(new RegExp(`^${sample.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
      expect(value('stomp_connections')).to.be.at.least(1);
      expect(value('stomp_sessions')).to.be.at.least(1);
      expect(value('stomp_deliveries_total')).to.be.at.least(1);
      expect(value('stomp_frames_in_total{command="SUBSCRIBE"}')).to.be.at.least(1);
      expect(value('stomp_errors_total{code="BAD_JSON"}')).to.be.at.least(1);
      expect(text).to.match(/^stomp_delivery_latency_seconds_bucket\{le="\+Inf"\} [1-9]/m);
      // Node's process metrics, without the ones that list every handle synchronously at each scrape.
      expect(value('process_open_fds')).to.be.at.least(value('stomp_connections') + 1);
      expect(value('nodejs_active_resources_total')).to.be.at.least(value('stomp_connections'));
      expect(text).not.to.include('nodejs_active_handles');
    });
  });

  describe('bad input (nothing half-done, never a stack trace)', function () {
    let bob: string;
    let inbox: Inbox;
    beforeEach(async () => {
      bob = user('bob');
      inbox = await (await connect(bob)).subscribeWithReceipt('/user/queue/x');
    });
    const messages = () => `/api/users/${bob}/messages`;

    it('answers 400 BAD_JSON to a body that is not JSON', async () => {
      for (const raw of ['{', '{"destination":"/queue/x","body":1', 'nope', '']) {
        expectError(await request(n.http, 'POST', messages(), { raw }), 400, 'BAD_JSON');
      }
      await expectNothingBefore(n.http, bob, inbox);
    });

    it('answers 400 BAD_REQUEST to JSON that is not an object', async () => {
      for (const raw of ['[]', '"text"', '42', 'null', 'true']) {
        expectError(await request(n.http, 'POST', messages(), { raw }), 400, 'BAD_REQUEST');
      }
      await expectNothingBefore(n.http, bob, inbox);
    });

    it('answers 400 BAD_REQUEST to missing or wrong fields', async () => {
      const cases: unknown[] = [
        { body: 1 },
        { destination: '/queue/x' },
        { destination: 7, body: 1 },
        { destination: 'queue/x', body: 1 },
        { destination: '/queue/../x', body: 1 },
        { destination: '/queue//x', body: 1 },
        { destination: '/queue/x\n', body: 1 },
        { destination: `/queue/${'x'.repeat(2000)}`, body: 1 },
        { destination: '/queue/x', body: 1, headers: 'h' },
        { destination: '/queue/x', body: 1, headers: ['a'] },
        { destination: '/queue/x', body: 1, headers: { 'bad name': 'v' } },
        { destination: '/queue/x', body: 1, headers: { nested: { a: 1 } } },
      ];
      for (const json of cases) {
        const res = await post(n.http, messages(), json);
        expectError(res, 400, 'BAD_REQUEST');
      }
      expect(
        jsonOf<{ error: { message: string } }>(await post(n.http, messages(), { body: 1 })).error.message,
      ).to.include('destination');
      await expectNothingBefore(n.http, bob, inbox);
    });

    it('answers 400 BAD_REQUEST to an invalid user id in the path', async () => {
      for (const path of [
        `/api/users/${'u'.repeat(200)}/messages`,
        '/api/users/a%01b/messages',
        '/api/users/a%252Fb/messages',
      ]) {
        expectError(
          await request(n.http, 'POST', path, { json: { destination: '/queue/x', body: 1 } }),
          400,
          'BAD_REQUEST',
        );
      }
    });

    it('answers 415 UNSUPPORTED_MEDIA_TYPE unless the body is application/json', async () => {
      const raw = JSON.stringify({ destination: '/queue/x', body: 1 });
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', null]) {
        expectError(await request(n.http, 'POST', messages(), { raw, type }), 415, 'UNSUPPORTED_MEDIA_TYPE');
        expectError(await request(n.http, 'POST', '/api/broadcast', { raw, type }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
      await expectNothingBefore(n.http, bob, inbox);
      const withCharset = await request(n.http, 'POST', messages(), { raw, type: 'application/json; charset=utf-8' });
      expect(withCharset.status).to.equal(202);
    });

    it('answers 404 NOT_FOUND to an unknown route', async () => {
      expectError(await get(n.http, '/nope'), 404, 'NOT_FOUND');
      expectError(await get(n.http, '/api/nope'), 404, 'NOT_FOUND');
      expectError(await post(n.http, '/api/users/bob/inbox', { destination: '/queue/x', body: 1 }), 404, 'NOT_FOUND');
      expectError(await get(n.http, '/js/../../package.json'), 404, 'NOT_FOUND');
    });

    it('answers 405 METHOD_NOT_ALLOWED to a wrong method on an API route', async () => {
      expectError(await get(n.http, messages()), 405, 'METHOD_NOT_ALLOWED');
      expectError(await post(n.http, '/api/docs/42/presence', {}), 405, 'METHOD_NOT_ALLOWED');
    });
  });

  describe('when the node cannot take messages', function () {
    /** The embedded registry, with a switch that makes it unusable, as a lost Redis would. */
    class SwitchableRegistry extends MemoryRegistry {
      down = false;
      override isReady(): boolean {
        return !this.down && super.isReady();
      }
      override async locate(userId: string, docId?: string): Promise<string[]> {
        if (this.down) throw new Error('ECONNREFUSED 127.0.0.1:6379 (secret internal detail)');
        return super.locate(userId, docId);
      }
    }
    const nodeId = 'http-test-down';
    const registry = new SwitchableRegistry(nodeId);
    let down: StartedNode;
    before(async () => {
      down = await startNode({ NODE_ID: nodeId }, { registry });
    });
    after(async () => {
      await down?.stop();
    });

    it('GET /readyz answers 503 while a dependency is unusable, and 200 again after', async () => {
      registry.down = true;
      try {
        const res = await get(down.http, '/readyz');
        expect(res.status).to.equal(503);
        expect(res.json).to.deep.include({ ready: false, node: nodeId });
        expect((await get(down.http, '/healthz')).status).to.equal(200);
      } finally {
        registry.down = false;
      }
      expect((await get(down.http, '/readyz')).status).to.equal(200);
    });

    it('answers 503 NOT_ACCEPTED, without the cause, when a message cannot be accepted', async () => {
      registry.down = true;
      try {
        const res = await pushToUser(down.http, 'bob', { destination: '/queue/x', body: 1 });
        expectError(res, 503, 'NOT_ACCEPTED');
        expect(res.text).not.to.match(/ECONNREFUSED|secret/);
      } finally {
        registry.down = false;
      }
    });
  });

  describe('the demo page', function () {
    it('serves client-demo/ at / with the right content types', async () => {
      const page = await get(n.http, '/');
      expect(page.status).to.equal(200);
      expect(page.headers['content-type']).to.match(/^text\/html/);
      expect(page.text).to.include('data-testid="login-form"').and.include('/vendor/stomp.umd.min.js');
      for (const [path, type] of [
        ['/js/app.js', /^text\/javascript/],
        ['/js/stomp-session.js', /^text\/javascript/],
        ['/demo.css', /^text\/css/],
      ] as const) {
        const res = await get(n.http, path);
        expect(res.status, path).to.equal(200);
        expect(res.headers['content-type'], path).to.match(type);
      }
    });

    it('serves the STOMP.js browser bundle at /vendor/stomp.umd.min.js, from the npm package', async () => {
      const res = await get(n.http, '/vendor/stomp.umd.min.js');
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.match(/^text\/javascript/);
      expect(res.text).to.include('StompJs');
    });
  });

  describe('MAX_HTTP_BODY_BYTES', function () {
    let small: StartedNode;
    before(async () => {
      small = await startNode({ MAX_HTTP_BODY_BYTES: '256' });
    });
    after(async () => {
      await small?.stop();
    });

    it('answers 413 BODY_TOO_LARGE to a body over the limit, declared or streamed, and delivers nothing', async () => {
      const bob = user('bob');
      const c = await connectClient(small.url, { login: bob });
      clients.push(c);
      const inbox = await c.subscribeWithReceipt('/user/queue/x');
      const big = { destination: '/queue/x', body: 'x'.repeat(400) };

      expectError(await post(small.http, `/api/users/${bob}/messages`, big), 413, 'BODY_TOO_LARGE');
      expectError(await post(small.http, `/api/users/${bob}/messages`, big, { chunked: true }), 413, 'BODY_TOO_LARGE');
      expectError(
        await post(small.http, '/api/broadcast', { destination: '/topic/x', body: 'x'.repeat(400) }),
        413,
        'BODY_TOO_LARGE',
      );

      const fits = await post(
        small.http,
        `/api/users/${bob}/messages`,
        { destination: '/queue/x', body: 'x'.repeat(100) },
        { chunked: true },
      );
      expect(fits.status).to.equal(202);
      const [first] = await inbox.wait(1);
      expect(first!.body).to.equal('x'.repeat(100));
      expect(inbox.messages).to.have.length(1);
    });
  });

  describe('API_TOKEN', function () {
    const token = 'test-token-9f3a';
    let guarded: StartedNode;
    before(async () => {
      guarded = await startNode({ API_TOKEN: token });
    });
    after(async () => {
      await guarded?.stop();
    });

    it('answers 401 UNAUTHORIZED to /api/** without the right bearer token', async () => {
      const push = { destination: '/queue/x', body: 1 };
      expectError(await post(guarded.http, '/api/users/bob/messages', push), 401, 'UNAUTHORIZED');
      expectError(await post(guarded.http, '/api/users/bob/messages', push, { token: 'wrong' }), 401, 'UNAUTHORIZED');
      expectError(
        await post(guarded.http, '/api/users/bob/messages', push, { token: `${token}x` }),
        401,
        'UNAUTHORIZED',
      );
      expectError(
        await post(guarded.http, '/api/users/bob/messages', push, { headers: { authorization: `Basic ${token}` } }),
        401,
        'UNAUTHORIZED',
      );
      expectError(
        await post(guarded.http, '/api/broadcast', { destination: '/topic/x', body: 1 }),
        401,
        'UNAUTHORIZED',
      );
      expectError(await get(guarded.http, '/api/docs/42/presence'), 401, 'UNAUTHORIZED');
    });

    it('answers 401, not 404 or 405, to any /api/** request without the token', async () => {
      expectError(await get(guarded.http, '/api/nope'), 401, 'UNAUTHORIZED');
      expectError(await get(guarded.http, '/api/broadcast'), 401, 'UNAUTHORIZED');
    });

    it('answers 202 with the right token, and delivers', async () => {
      const bob = user('bob');
      const c = await connectClient(guarded.url, { login: bob });
      clients.push(c);
      const inbox = await c.subscribeWithReceipt('/user/queue/x');
      const res = await post(
        guarded.http,
        `/api/users/${bob}/messages`,
        { destination: '/queue/x', body: { ok: 1 } },
        { token },
      );
      expect(res.status).to.equal(202);
      expect(jsonOf<PushAnswer>(res).status).to.equal('routed');
      await inbox.wait(1);
      expect((await get(guarded.http, '/api/docs/42/presence', { token })).status).to.equal(200);
    });

    it('leaves /healthz, /readyz, /metrics and the demo page open', async () => {
      for (const path of ['/healthz', '/readyz', '/metrics', '/']) {
        expect((await get(guarded.http, path)).status, path).to.equal(200);
      }
    });
  });
});
