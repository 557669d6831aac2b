import { Client } from '@stomp/stompjs';
import { expect } from 'chai';
import * as Y from 'yjs';
import { StompYjsProvider, YJS_DESTINATIONS as CLIENT_DESTINATIONS } from '../../client/yjs-provider.js';
import { YJS_DESTINATIONS as SERVER_DESTINATIONS } from '../../server/yjs/yjs-handlers.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { requireService } from '../helpers/services.js';
import { connectClient, webSocketFactory } from '../helpers/stomp-client.js';
import { startNode, type StartedNode } from '../helpers/start-node.js';
import { waitFor } from '../helpers/wait.js';

/** A page: its own document, a real STOMP.js client that reconnects, and the provider on them. */
interface Editor {
  readonly doc: Y.Doc;
  readonly text: Y.Text;
  readonly provider: StompYjsProvider;
  readonly client: Client;
  close(): Promise<void>;
}

const open: Editor[] = [];

async function openEditor(url: string | (() => string), login: string, docId: string): Promise<Editor> {
  const doc = new Y.Doc();
  const target = typeof url === 'string' ? () => url : url;
  const client = new Client({
    webSocketFactory: () => webSocketFactory(target())(),
    connectHeaders: { login },
    reconnectDelay: 200,
    debug: () => {},
  });
  const provider = new StompYjsProvider(client, docId, doc);
  provider.awareness.setLocalStateField('user', { name: login });
  client.activate();
  const editor: Editor = {
    doc,
    text: doc.getText('body'),
    provider,
    client,
    close: async () => {
      provider.destroy();
      await client.deactivate();
    },
  };
  open.push(editor);
  await waitFor(() => provider.synced, `${login} synced`, 10_000);
  return editor;
}

async function closeAll(): Promise<void> {
  for (const e of open.splice(0)) await e.close();
}

/** Waits until every editor shows the same text, and returns it. */
async function converged(editors: readonly Editor[], what: string): Promise<string> {
  await waitFor(() => editors.every((e) => e.text.toString() === editors[0]!.text.toString()), what, 10_000);
  return editors[0]!.text.toString();
}

describe('Yjs provider: destinations', () => {
  it('names the same destinations as the server (the client keeps its own copy: it may not import the server)', () => {
    expect(Object.keys(CLIENT_DESTINATIONS).sort()).to.deep.equal(Object.keys(SERVER_DESTINATIONS).sort());
    for (const [name, build] of Object.entries(SERVER_DESTINATIONS)) {
      expect(CLIENT_DESTINATIONS[name as keyof typeof SERVER_DESTINATIONS]('42'), name).to.equal(build('42'));
    }
  });
});

describe('Yjs provider: an embedded node keeps and relays the document', () => {
  let node: StartedNode;
  before(async () => {
    node = await startNode();
  });
  afterEach(closeAll);
  after(() => node.stop());

  it('two editors typing in the same place at once converge to one text holding both', async () => {
    const a = await openEditor(node.url, 'ann', 'y1');
    const b = await openEditor(node.url, 'ben', 'y1');
    for (let i = 0; i < 50; i++) {
      a.text.insert(0, 'a');
      b.text.insert(0, 'b');
    }
    const text = await converged([a, b], 'both texts the same');
    expect(text).to.have.length(100);
    expect(text.replace(/b/g, '')).to.equal('a'.repeat(50));
  });

  it('a newcomer gets the whole document from the node when every other editor has left', async () => {
    const a = await openEditor(node.url, 'ann', 'y2');
    a.text.insert(0, 'written while alone');
    a.text.delete(0, 8);
    await waitFor(() => a.provider.synced && a.client.connected, 'a connected');
    // Closing waits for nothing: what was sent must already be kept by the node.
    await waitFor(async () => (await stateText(node, 'y2')) === 'while alone', 'the node kept the text');
    await a.close();
    const c = await openEditor(node.url, 'cat', 'y2');
    expect(c.text.toString()).to.equal('while alone');
  });

  it('edits made while disconnected reach the others after the reconnect', async () => {
    const a = await openEditor(node.url, 'ann', 'y3');
    const b = await openEditor(node.url, 'ben', 'y3');
    a.text.insert(0, 'online ');
    await converged([a, b], 'first edit seen');
    a.client.forceDisconnect();
    a.text.insert(a.text.length, 'offline');
    b.text.insert(0, '> ');
    await waitFor(() => a.provider.status === 'connected' && a.provider.synced, 'a back', 10_000);
    expect(await converged([a, b], 'both sides merged')).to.equal('> online offline');
  });

  it('awareness: each editor sees the others, and a destroyed one leaves', async () => {
    const a = await openEditor(node.url, 'ann', 'y4');
    const b = await openEditor(node.url, 'ben', 'y4');
    const names = (e: Editor) =>
      [...e.provider.awareness.getStates().values()].map((s) => (s.user as { name?: string } | undefined)?.name).sort();
    await waitFor(() => names(a).join() === 'ann,ben' && names(b).join() === 'ann,ben', 'both see both', 10_000);
    await b.close();
    open.splice(open.indexOf(b), 1);
    await waitFor(() => names(a).join() === 'ann', "ben is gone from ann's view");
  });

  it('a SEND that is not a Yjs update is refused on /user/queue/errors and harms nothing', async () => {
    const a = await openEditor(node.url, 'ann', 'y5');
    a.text.insert(0, 'safe');
    const raw = await connectClient(node.url, { login: 'mallory' });
    try {
      const errors = raw.subscribe('/user/queue/errors');
      await raw.sendWithReceipt('/app/docs/y5/yjs', 'not an update', { 'content-type': 'application/octet-stream' });
      const [error] = await errors.wait(1);
      expect(error!.body).to.match(/not a Yjs update/);
    } finally {
      await raw.disconnect();
    }
    const c = await openEditor(node.url, 'cat', 'y5');
    expect(await converged([a, c], 'the document still syncs')).to.equal('safe');
  });
});

async function stateText(node: StartedNode, docId: string): Promise<string> {
  const raw = await connectClient(node.url, { login: 'reader' });
  try {
    const inbox = raw.subscribe(`/app/docs/${docId}/yjs/state`);
    const [message] = await inbox.wait(1);
    const doc = new Y.Doc();
    Y.applyUpdate(doc, message!.binaryBody);
    return doc.getText('body').toString();
  } finally {
    await raw.disconnect();
  }
}

describe('Yjs provider: a cluster keeps the document in Redis', function () {
  let cluster: Cluster;
  before(async function () {
    await requireService(this, 'redis');
    await requireService(this, 'rabbitmq');
    this.timeout(60_000);
    cluster = await startCluster(2, { HISTORY_DESTINATIONS: '/topic/docs/*/yjs' });
  });
  afterEach(async function () {
    cluster?.printLogsIfFailed(this);
    await closeAll();
  });
  after(() => cluster?.stop());

  it('editors on two nodes converge; a newcomer on either node gets the document with no one else online', async () => {
    const [n1, n2] = cluster.nodes;
    const a = await openEditor(n1!.url, 'ann', 'c1');
    const b = await openEditor(n2!.url, 'ben', 'c1');
    for (let i = 0; i < 30; i++) {
      a.text.insert(a.text.length, 'a');
      b.text.insert(0, 'b');
    }
    const text = await converged([a, b], 'across nodes');
    expect(text.replace(/b/g, '')).to.equal('a'.repeat(30));
    expect(text.replace(/a/g, '')).to.equal('b'.repeat(30));
    await a.close();
    await b.close();
    open.length = 0;
    for (const node of [n1!, n2!]) {
      const c = await openEditor(node.url, 'cat', 'c1');
      expect(c.text.toString()).to.equal(text);
      await c.close();
      open.length = 0;
    }
  });

  it('a reconnect with history on resumes the update stream instead of fetching the state', async () => {
    const [n1, n2] = cluster.nodes;
    const a = await openEditor(n1!.url, 'ann', 'c2');
    const b = await openEditor(n2!.url, 'ben', 'c2');
    a.text.insert(0, 'start');
    await converged([a, b], 'start seen');
    const resumes = await recoveredResumes(n1!);
    let resumed = false;
    a.provider.once('synced', () => (resumed = true));
    a.client.forceDisconnect();
    b.text.insert(b.text.length, ' missed by ann');
    await waitFor(() => resumed && a.text.toString() === 'start missed by ann', 'ann caught up', 10_000);
    expect(await recoveredResumes(n1!)).to.be.greaterThan(resumes, 'the node answered x-recovered:true');
  });
});

/** Resuming SUBSCRIBEs the node answered with `x-recovered:true`. */
async function recoveredResumes(node: Cluster['nodes'][number]): Promise<number> {
  return (await node.metrics()).value('stomp_history_resumes_total', { recovered: 'true' });
}
