import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { startBalancer, type Balancer } from '../helpers/balancer.js';
import { launchChromium, watchPage, type PageProblems } from '../helpers/browser.js';
import { startCluster, type Cluster, type ClusterNode } from '../helpers/cluster.js';
import { delay } from '../helpers/wait.js';
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

const DOC = 'kill-7';
/** What alice types key by key while bob's node dies under him. */
const TYPED = 'Every keystroke is a Yjs update; the node that dies takes none of them with it.';
const CHAT_MESSAGES = 40;

/**
 * `npm run cluster`'s layout in small: three nodes keeping history for the chat and the document,
 * bob's page behind a balancer over two of them; his node is killed with SIGKILL mid-typing.
 */
describe('demo page: the node under a page is killed (SIGKILL) mid-typing and mid-chat', function () {
  let cluster: Cluster;
  let balancer: Balancer;
  let browser: Browser;
  let alice: Page;
  let bob: Page;
  let bobsNode: ClusterNode | undefined;
  const problems: PageProblems[] = [];

  before(async function () {
    await demoSuiteNeeds(this);
    cluster = await startCluster(3, { HISTORY_DESTINATIONS: '/user/*/queue/chat,/topic/docs/*/yjs' });
    const [, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    balancer = await startBalancer([n2.port, n3.port]);
    browser = await launchChromium();
    const pages: Page[] = [];
    for (const label of ['alice', 'bob']) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      context.setDefaultTimeout(WAIT_MS);
      const page = await context.newPage();
      problems.push(watchPage(page, label));
      pages.push(page);
    }
    [alice, bob] = pages as [Page, Page];
    await openDocument(alice, cluster.nodes[0]!.http, 'alice', DOC);
    await openDocument(bob, `http://127.0.0.1:${balancer.port}`, 'bob', DOC);
  });

  afterEach(function () {
    cluster?.printLogsIfFailed(this);
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    await balancer?.close();
    await cluster?.stop();
  });

  it('his page reconnects through the balancer and shows every edit and every message exactly once', async function () {
    this.timeout(60_000);
    await typeInEditor(alice, 'Draft: ');
    await editorHolds(bob, 'Draft: ');
    await presenceOf(alice, 'bob').waitFor();
    const bobsNodeId = await presenceOf(alice, 'bob').getAttribute('data-node');
    bobsNode = cluster.nodes.find((n) => n.nodeId === bobsNodeId);
    expect(bobsNode, `bob's node ${bobsNodeId} is one of the balanced ones`).to.not.equal(cluster.nodes[0]);

    // A backend's chat stream to bob, one message every 100 ms across the kill (accepted = 202).
    const n1 = cluster.nodes[0]!;
    const chat = (async () => {
      let accepted = 0;
      for (let i = 1; i <= CHAT_MESSAGES; i++) {
        const body = {
          id: `m-${i}`,
          from: 'alice',
          to: 'bob',
          docId: DOC,
          content: `message ${i}`,
          sentAt: new Date().toISOString(),
        };
        const res = await pushToUser(n1.http, 'bob', { destination: `/${DOC}/queue/chat`, body });
        if (res.status === 202 && ['routed', 'stored'].includes(jsonOf<{ status: string }>(res).status)) accepted++;
        await delay(100);
      }
      return accepted;
    })();
    const typing = typeInEditor(alice, TYPED, 'end', 40);
    await delay(800);
    await bobsNode!.kill('SIGKILL');
    await shows(bob, 'conn-state', /^reconnecting…$/);
    await typing;
    expect(await chat).to.equal(CHAT_MESSAGES, 'every chat message was accepted');

    await shows(bob, 'conn-state', /^connected$/, 20_000);
    const text = await editorText(alice);
    expect(text).to.equal(`Draft: ${TYPED}`);
    await editorHolds(bob, text, 20_000);

    const want = Array.from({ length: CHAT_MESSAGES }, (_, i) => `message ${i + 1}`);
    const seen = async () => bob.locator('[data-testid="chat-message"][data-from="alice"] .content').allTextContents();
    const deadline = Date.now() + 20_000;
    while ((await seen()).length < CHAT_MESSAGES && Date.now() < deadline) await delay(200);
    const shown = await seen();
    const counts = new Map<string, number>();
    for (const t of shown) counts.set(t, (counts.get(t) ?? 0) + 1);
    expect(
      want.filter((m) => !counts.has(m)),
      'lost',
    ).to.deep.equal([]);
    expect(
      [...counts].filter(([, n]) => n > 1).map(([m]) => m),
      'shown twice',
    ).to.deep.equal([]);
    expect(problems.flatMap((p) => p.exceptions)).to.deep.equal([]);
  });

  it('a page opened after everyone left gets the whole document from the cluster', async function () {
    this.timeout(30_000);
    const text = await editorText(alice);
    for (const page of [alice, bob]) {
      await testId(page, 'leave').click();
      await shows(page, 'conn-state', /^not connected$/);
    }
    const carol = await (await browser.newContext()).newPage();
    problems.push(watchPage(carol, 'carol'));
    // On the balanced node that survived: every node can serve the document.
    const survivor = cluster.nodes.slice(1).find((n) => n !== bobsNode)!;
    await openDocument(carol, survivor.http, 'carol', DOC);
    await editorHolds(carol, text);
    await shows(carol, 'editor-status', 'no one else here');
  });
});
