import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, watchPage, type PageProblems } from '../helpers/browser.js';
import { startCluster, type Cluster, type ClusterNode } from '../helpers/cluster.js';
import { jsonOf, pushToUser } from '../http/http-client.js';
import {
  editorHolds,
  editorText,
  demoSuiteNeeds,
  openDocument,
  presenceOf,
  shows,
  testId,
  typeInEditor,
  WAIT_MS,
} from './pages.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'demo');
const README_SCREENSHOT = path.join(ROOT, 'docs', 'demo.png');
const DOC = '42';

describe('demo page: two users in Chromium, each on another node of a cluster', function () {
  let cluster: Cluster;
  let n1: ClusterNode;
  let n2: ClusterNode;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let alice: Page;
  let bob: Page;
  const problems: PageProblems[] = [];
  let shot = 0;

  before(async function () {
    await demoSuiteNeeds(this);
    cluster = await startCluster(2);
    [n1, n2] = cluster.nodes as [ClusterNode, ClusterNode];
    browser = await launchChromium();
    // Two contexts: two users with nothing shared, as two people on two machines.
    for (const label of ['alice', 'bob']) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      context.setDefaultTimeout(WAIT_MS);
      contexts.push(context);
      const page = await context.newPage();
      problems.push(watchPage(page, label));
      if (label === 'alice') alice = page;
      else bob = page;
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    await openDocument(alice, n1.http, 'alice', DOC);
    await openDocument(bob, n2.http, 'bob', DOC);
  });

  afterEach(async function () {
    cluster?.printLogsIfFailed(this);
    if (!alice || !bob) return;
    const name = `${String(++shot).padStart(2, '0')}-${(this.currentTest?.title ?? 'test').replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`;
    for (const [user, page] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${user}.png`) }).catch(() => undefined);
    }
    if (this.currentTest?.state === 'failed') {
      for (const p of problems) console.error([...p.exceptions, ...p.consoleErrors].join('\n'));
    }
  });

  after(async function () {
    this.timeout(30_000);
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await cluster?.stop();
  });

  it("shows each user in the other's presence list, with the node that holds them", async () => {
    await presenceOf(alice, 'bob').waitFor();
    await presenceOf(bob, 'alice').waitFor();
    expect(await presenceOf(alice, 'bob').getAttribute('data-node')).to.equal(n2.nodeId);
    expect(await presenceOf(bob, 'alice').getAttribute('data-node')).to.equal(n1.nodeId);
    await shows(alice, 'node-info', n1.nodeId);
    await shows(bob, 'node-info', n2.nodeId);
    // CONNECTED names the session and the software; /healthz names the node that answered HTTP.
    await shows(alice, 'conn-detail', /session \S+/);
    await shows(alice, 'healthz-node', n1.nodeId);
    await shows(bob, 'healthz-node', n2.nodeId);
  });

  it('carries a chat message from alice on node 1 to bob on node 2, and the reply back', async () => {
    await alice.locator('[data-testid="chat-to"] option[value="bob"]').waitFor({ state: 'attached' });
    await testId(alice, 'chat-to').selectOption('bob');
    await testId(alice, 'chat-text').fill('Can you take the design section?');
    await testId(alice, 'chat-send').click();

    const received = bob.locator('[data-testid="chat-message"][data-from="alice"]');
    await received.filter({ hasText: 'Can you take the design section?' }).waitFor();
    expect(await received.locator('.meta').textContent()).to.match(/^alice · \d/);

    await testId(bob, 'chat-to').selectOption('alice');
    await testId(bob, 'chat-text').fill('Sure, on it.');
    await testId(bob, 'chat-text').press('Enter');
    await alice.locator('[data-testid="chat-message"][data-from="bob"]').filter({ hasText: 'Sure, on it.' }).waitFor();
  });

  it('merges alice on node 1 and bob on node 2 typing in the same paragraph at once, and shows whose cursor is where', async () => {
    await typeInEditor(alice, 'Spring frontends ');
    await editorHolds(bob, 'Spring frontends ');
    const mine = 'run unchanged';
    const theirs = 'on a cluster';
    // Both type at the same time, alice at the end and bob at the start of the same line.
    await Promise.all([typeInEditor(alice, mine, 'end', 20), typeInEditor(bob, theirs, 'start', 20)]);
    const text = await editorText(alice);
    await editorHolds(bob, text);
    expect(text).to.include(mine).and.to.include(theirs).and.to.include('Spring frontends ');
    expect(text).to.have.length('Spring frontends '.length + mine.length + theirs.length);
    // Remote cursors carry the co-author's name (Yjs awareness).
    await alice.locator('.cm-ySelectionInfo', { hasText: 'bob' }).first().waitFor({ state: 'attached' });
    await shows(alice, 'editor-status', 'also here: bob');
    await shows(bob, 'editor-status', 'also here: alice');
  });

  it("fills bob's progress bar to 100% from a job that pushes through node 1's HTTP API", async () => {
    for (let percent = 10; percent <= 100; percent += 10) {
      const res = await pushToUser(n1.http, 'bob', {
        destination: '/queue/progress',
        body: { percent, job: 'quarterly report' },
      });
      expect(res.status).to.equal(202);
      expect(jsonOf<{ status: string }>(res).status).to.equal('routed');
    }
    await shows(bob, 'progress-percent', /^100%$/);
    expect(await testId(bob, 'progress-bar').getAttribute('aria-valuenow')).to.equal('100');
    await shows(bob, 'progress-job', 'quarterly report finished');
    // Only bob's job: alice's bar has not moved.
    expect(await testId(alice, 'progress-percent').textContent()).to.equal('0%');
  });

  it("runs the page's own simulated backend job, and shows the curl command of a real one", async () => {
    await testId(alice, 'progress-simulate').click();
    await shows(alice, 'progress-percent', /^100%$/);
    await testId(alice, 'progress-curl-button').click();
    await shows(alice, 'progress-curl', `${n1.http}/api/users/alice/messages`);
  });

  it('shows it all at once (the README screenshot)', async () => {
    const text = '\nA Redis hash per document says where each co-author is; RabbitMQ routes by node id.';
    await typeInEditor(alice, text, 'end', 0);
    const whole = await editorText(alice);
    await editorHolds(bob, whole);
    await bob.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const file = path.join(ARTIFACTS, 'demo.png');
    await bob.screenshot({ path: file });
    // docs/demo.png is committed: refresh it on request only, so a test run leaves the tree clean.
    if (!existsSync(README_SCREENSHOT) || process.env.UPDATE_DEMO_SCREENSHOT === '1') {
      mkdirSync(path.dirname(README_SCREENSHOT), { recursive: true });
      copyFileSync(file, README_SCREENSHOT);
    }
  });

  it('raises no script errors in either page', () => {
    expect(problems.flatMap((p) => [...p.exceptions, ...p.consoleErrors])).to.deep.equal([]);
  });

  it("removes alice from bob's presence when she leaves; back, she gets the whole document from the cluster", async () => {
    const whole = await editorText(bob);
    await testId(alice, 'leave').click();
    await shows(alice, 'conn-state', /^not connected$/);
    await presenceOf(bob, 'alice').waitFor({ state: 'detached' });
    expect(await testId(bob, 'chat-to').inputValue()).to.equal('');

    await testId(alice, 'login-submit').click();
    await shows(alice, 'conn-state', /^connected$/);
    await presenceOf(bob, 'alice').waitFor();
    await editorHolds(alice, whole);
  });

  it("says reconnecting… when bob's node drains, and alice's page drops bob", async () => {
    await n2.kill('SIGTERM');
    await shows(bob, 'conn-state', /^reconnecting…$/);
    await presenceOf(alice, 'bob').waitFor({ state: 'detached' });
    expect(problems.flatMap((p) => p.exceptions)).to.deep.equal([]);
  });
});
