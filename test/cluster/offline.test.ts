import { expect } from 'chai';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { useCluster } from '../helpers/use-cluster.js';
import { waitFor } from '../helpers/wait.js';

describe('cluster: offline messages', function () {
  const cluster = useCluster(3);
  let n1: ClusterNode;
  let n2: ClusterNode;
  let n3: ClusterNode;
  const contents = (bodies: string[]) => bodies.map((b) => (JSON.parse(b) as { content: string }).content);

  before(() => {
    [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });

  it('keeps three chats for B while B is away and delivers them in order, exactly once, when B comes back on another node', async () => {
    const [A, B] = uniqueUsers('A', 'B');
    const doc42 = `${cluster.keyPrefix}co:42`;
    const bAway = await cluster.connect(n3, B);
    await bAway.subscribeWithReceipt('/user/42/queue/chat');
    await bAway.disconnect();
    await waitFor(async () => (await cluster.redis.hexists(doc42, B)) === 0, `${B} to leave ${doc42}`);

    const a = await cluster.connect(n1, A);
    const before = await n1.metrics();
    for (const text of ['one', 'two', 'three']) await a.sendWithReceipt(`/app/chat/${A}/${B}/42`, text);
    const after = await n1.metrics();
    expect(after.value('stomp_offline_stored_total') - before.value('stomp_offline_stored_total')).to.equal(3);

    const b = await cluster.connect(n2, B);
    const inbox = await b.subscribeWithReceipt('/user/42/queue/chat');
    await inbox.wait(3);
    expect(contents(inbox.bodies())).to.deep.equal(['one', 'two', 'three']);
    for (const m of inbox.messages) expect(m.headers.destination).to.equal('/user/42/queue/chat');
    // A live chat after the replay is a fence: any duplicate of the stored ones would come before it.
    await a.sendWithReceipt(`/app/chat/${A}/${B}/42`, 'four');
    await inbox.wait(4);
    expect(contents(inbox.bodies())).to.deep.equal(['one', 'two', 'three', 'four']);

    // Delivered means gone: B coming back once more, on a third node, gets nothing replayed.
    await b.disconnect();
    const again = await cluster.connect(n3, B);
    const later = await again.subscribeWithReceipt('/user/42/queue/chat');
    await a.sendWithReceipt(`/app/chat/${A}/${B}/42`, 'five');
    await later.wait(1);
    expect(contents(later.bodies())).to.deep.equal(['five']);
  });

  it('keeps a message sent while the user has no session anywhere and replays it to the matching subscription only', async () => {
    const [B] = uniqueUsers('B');
    const res = await fetch(`${n2.http}/api/users/${B}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ destination: '/queue/notice', body: { report: 'ready' } }),
    });
    expect(await res.json()).to.include({ status: 'stored' });

    const b = await cluster.connect(n1, B);
    const other = await b.subscribeWithReceipt('/user/42/queue/chat');
    const notice = await b.subscribeWithReceipt('/user/queue/notice');
    const [m] = await notice.wait(1);
    expect(JSON.parse(m!.body)).to.deep.equal({ report: 'ready' });
    expect(m!.headers.destination).to.equal('/user/queue/notice');
    expect(other.messages).to.have.length(0);
  });
});
