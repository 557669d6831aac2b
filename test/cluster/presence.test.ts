import { expect } from 'chai';
import { uniqueUsers, type ClusterNode } from '../helpers/cluster.js';
import { useCluster } from '../helpers/use-cluster.js';
import { waitFor } from '../helpers/wait.js';
import type { PresenceNotice } from '../../server/messaging/presence-notices.js';

interface PresenceBody {
  docId: string;
  users: { userId: string; node: string; sessions: number; nodes: Record<string, number> }[];
}

describe('cluster: GET /api/docs/{docId}/presence', function () {
  const cluster = useCluster(3);
  let n1: ClusterNode;
  let n2: ClusterNode;
  let n3: ClusterNode;
  /** The document's presence as one node answers it, restricted to `users` (other tests share doc 42). */
  const presence = async (node: ClusterNode, users: readonly string[]) => {
    const res = await fetch(`${node.http}/api/docs/42/presence`);
    expect(res.status).to.equal(200);
    const body = (await res.json()) as PresenceBody;
    return { docId: body.docId, users: body.users.filter((u) => users.includes(u.userId)) };
  };

  before(() => {
    [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });

  it('answers the same users and nodes from every node', async () => {
    const [A, B, C] = uniqueUsers('A', 'B', 'C');
    const a = await cluster.connect(n1, A);
    const b3 = await cluster.connect(n3, B);
    const b2 = await cluster.connect(n2, B);
    const c = await cluster.connect(n2, C);
    await a.subscribeWithReceipt('/user/42/queue/chat');
    await b3.subscribeWithReceipt('/user/42/queue/chat');
    await b2.subscribeWithReceipt('/user/42/queue/chat');
    // Subscribing to a document's topic joins it too (SPEC §5).
    await c.subscribeWithReceipt('/topic/docs/42/cursor');

    const expected = {
      docId: '42',
      users: [
        { userId: A, node: n1.nodeId, sessions: 1, nodes: { [n1.nodeId]: 1 } },
        { userId: B, node: n2.nodeId, sessions: 1, nodes: { [n2.nodeId]: 1, [n3.nodeId]: 1 } },
        { userId: C, node: n2.nodeId, sessions: 1, nodes: { [n2.nodeId]: 1 } },
      ],
    };
    for (const node of [n1, n2, n3]) expect(await presence(node, [A, B, C]), node.nodeId).to.deep.equal(expected);
  });

  it("drops a user from every node's answer once it disconnected", async () => {
    const [A, B] = uniqueUsers('A', 'B');
    const a = await cluster.connect(n1, A);
    const b = await cluster.connect(n3, B);
    await a.subscribeWithReceipt('/user/42/queue/chat');
    await b.subscribeWithReceipt('/user/42/queue/chat');
    await b.disconnect();

    await waitFor(async () => (await presence(n3, [A, B])).users.length === 1, `${B} to leave the presence`);
    for (const node of [n1, n2, n3]) {
      expect(
        (await presence(node, [A, B])).users.map((u) => [u.userId, u.node]),
        node.nodeId,
      ).to.deep.equal([[A, n1.nodeId]]);
    }
  });

  it("tells subscribers of a document's presence topic on every node who joined and left through another", async () => {
    const [A, B, W] = uniqueUsers('A', 'B', 'W');
    const doc = `doc-${W}`;
    const watcher = await cluster.connect(n2, W);
    const events = await watcher.subscribeWithReceipt(`/topic/docs/${doc}/presence`);
    /** The document's users by node, as the notices so far tell it, applied in order. */
    const present = () => {
      const users = new Set<string>();
      for (const m of events.messages) {
        const notice = JSON.parse(m.body) as PresenceNotice;
        expect(m.headers['content-type']).to.equal('application/json');
        for (const u of notice.joined) users.add(`${u}@${notice.node}`);
        for (const u of notice.left) users.delete(`${u}@${notice.node}`);
      }
      return [...users].sort().join(',');
    };
    const a = await cluster.connect(n1, A);
    await a.subscribeWithReceipt(`/user/${doc}/queue/chat`);
    const b = await cluster.connect(n3, B);
    await b.subscribeWithReceipt(`/topic/docs/${doc}/cursor`);
    const all = [`${A}@${n1.nodeId}`, `${B}@${n3.nodeId}`, `${W}@${n2.nodeId}`].sort().join(',');
    await waitFor(() => present() === all, 'the joins through n1 and n3 to reach the watcher on n2');
    await a.disconnect();
    await waitFor(
      () => present() === [`${B}@${n3.nodeId}`, `${W}@${n2.nodeId}`].sort().join(','),
      `${A}'s leave through n1`,
    );
    const ids = events.messages.map((m) => m.headers['message-id']);
    expect(new Set(ids).size, 'a message-id of its own for each notice').to.equal(ids.length);
  });
});
