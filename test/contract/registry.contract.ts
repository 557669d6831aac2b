import { expect } from 'chai';
import type { NodeId } from '../../server/ids.js';
import type { Registry } from '../../server/registry/registry.js';

/** What a backend gives the suite: one registry per requested node id, in the same order. */
export interface RegistryFixture {
  readonly registries: Registry[];
  /** Closes the registries and removes whatever they stored. */
  cleanup(): Promise<void>;
}

export type MakeRegistries = (nodeIds: NodeId[]) => Promise<RegistryFixture>;

export interface RegistryCapabilities {
  /** The backend lets several nodes share one registry (false for the one-node MemoryRegistry). */
  readonly multiNode: boolean;
}

/**
 * The behaviour every Registry shows, run once per backend (socket.io-redis-adapter's
 * test-runner). Each test gets fresh registries; the backend keeps tests apart.
 */
export function registryContract(
  name: string,
  makeRegistries: MakeRegistries,
  capabilities: RegistryCapabilities,
): void {
  describe(`Registry contract: ${name}`, () => {
    let fixture: RegistryFixture | undefined;

    /** Registries for the given nodes, alive (keepAlive done) as a started node is. */
    async function nodes(...nodeIds: NodeId[]): Promise<Registry[]> {
      fixture = await makeRegistries(nodeIds);
      await Promise.all(fixture.registries.map((r) => r.keepAlive()));
      return fixture.registries;
    }

    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });

    describe('one node', () => {
      it('locates a user with a session on the node, and nobody else', async () => {
        const [n1] = await nodes('n1');
        await n1!.addSession('alice', 's1');
        expect(await n1!.locate('alice')).to.deep.equal(['n1']);
        expect(await n1!.locate('bob')).to.deep.equal([]);
      });

      it('keeps the user located until the last of its sessions is removed', async () => {
        const [n1] = await nodes('n1');
        await n1!.addSession('alice', 's1');
        await n1!.addSession('alice', 's2');
        await n1!.removeSession('alice', 's1');
        expect(await n1!.locate('alice')).to.deep.equal(['n1']);
        await n1!.removeSession('alice', 's2');
        expect(await n1!.locate('alice')).to.deep.equal([]);
      });

      it('counts a session added twice once, and ignores removing an unknown session', async () => {
        const [n1] = await nodes('n1');
        await n1!.removeSession('alice', 'ghost');
        await n1!.leaveDoc('42', 'alice', 'ghost');
        await n1!.addSession('alice', 's1');
        await n1!.addSession('alice', 's1');
        await n1!.joinDoc('42', 'alice', 's1');
        await n1!.joinDoc('42', 'alice', 's1');
        expect((await n1!.presence('42'))[0]?.sessions).to.equal(1);
        await n1!.removeSession('alice', 's1');
        await n1!.leaveDoc('42', 'alice', 's1');
        expect(await n1!.locate('alice')).to.deep.equal([]);
        expect(await n1!.presence('42')).to.deep.equal([]);
        // Counts did not go below zero: one new session makes the user present again.
        await n1!.addSession('alice', 's2');
        expect(await n1!.locate('alice')).to.deep.equal(['n1']);
      });

      it('shows users in a document with their node and session count, and drops them on leave', async () => {
        const [n1] = await nodes('n1');
        await n1!.joinDoc('42', 'alice', 's1');
        await n1!.joinDoc('42', 'alice', 's2');
        await n1!.joinDoc('42', 'bob', 's3');
        expect(await n1!.presence('42')).to.deep.equal([
          { userId: 'alice', node: 'n1', sessions: 2, nodes: { n1: 2 } },
          { userId: 'bob', node: 'n1', sessions: 1, nodes: { n1: 1 } },
        ]);
        await n1!.leaveDoc('42', 'alice', 's1');
        await n1!.leaveDoc('42', 'bob', 's3');
        expect(await n1!.presence('42')).to.deep.equal([
          { userId: 'alice', node: 'n1', sessions: 1, nodes: { n1: 1 } },
        ]);
        await n1!.leaveDoc('42', 'alice', 's2');
        expect(await n1!.presence('42')).to.deep.equal([]);
      });

      it('locates a user in a document only where the user joined that document', async () => {
        const [n1] = await nodes('n1');
        await n1!.addSession('alice', 's1');
        await n1!.joinDoc('42', 'alice', 's1');
        expect(await n1!.locate('alice', '42')).to.deep.equal(['n1']);
        expect(await n1!.locate('alice', '43')).to.deep.equal([]);
        await n1!.leaveDoc('42', 'alice', 's1');
        expect(await n1!.locate('alice', '42')).to.deep.equal([]);
        expect(await n1!.locate('alice')).to.deep.equal(['n1']);
      });

      it('keeps ids with separators and glob characters apart', async () => {
        const [n1] = await nodes('n1');
        await n1!.addSession('a:b', 's1');
        await n1!.joinDoc('x*', 'u/1', 's1');
        await n1!.joinDoc('x:1', 'u 2', 's2');
        expect(await n1!.locate('a')).to.deep.equal([]);
        expect(await n1!.locate('a:b')).to.deep.equal(['n1']);
        expect((await n1!.presence('x*')).map((e) => e.userId)).to.deep.equal(['u/1']);
        expect((await n1!.presence('x:1')).map((e) => e.userId)).to.deep.equal(['u 2']);
        expect(await n1!.presence('x')).to.deep.equal([]);
      });

      it('forgets everything of the node on removeNode (graceful drain)', async () => {
        const [n1] = await nodes('n1');
        await n1!.addSession('alice', 's1');
        await n1!.joinDoc('42', 'alice', 's1');
        await n1!.removeNode('n1');
        expect(await n1!.locate('alice')).to.deep.equal([]);
        expect(await n1!.presence('42')).to.deep.equal([]);
        // Sessions closing after the drain undo nothing twice.
        await n1!.removeSession('alice', 's1');
        await n1!.leaveDoc('42', 'alice', 's1');
        expect(await n1!.locate('alice')).to.deep.equal([]);
      });

      it('lists itself as live and is ready until closed', async () => {
        const [n1] = await nodes('n1');
        expect(await n1!.liveNodes()).to.include('n1');
        expect(n1!.isReady()).to.equal(true);
        await n1!.close();
        expect(n1!.isReady()).to.equal(false);
      });
    });

    // The memory registry is one node by design: these cases only exist for shared stores.
    if (capabilities.multiNode)
      describe('several nodes', function () {
        it('locates a user with sessions on two nodes on both, from any node', async () => {
          const [n1, n2, n3] = await nodes('n1', 'n2', 'n3');
          await n1!.addSession('alice', 's1');
          await n2!.addSession('alice', 's2');
          for (const r of [n1!, n2!, n3!]) expect(await r.locate('alice')).to.deep.equal(['n1', 'n2']);
          await n1!.removeSession('alice', 's1');
          expect(await n3!.locate('alice')).to.deep.equal(['n2']);
        });

        it('shows each user of a document on its node, the most recent node first-class', async () => {
          const [n1, n2] = await nodes('n1', 'n2');
          await n1!.joinDoc('42', 'alice', 's1');
          await n2!.joinDoc('42', 'bob', 's2');
          await n1!.joinDoc('42', 'bob', 's3');
          expect(await n2!.presence('42')).to.deep.equal([
            { userId: 'alice', node: 'n1', sessions: 1, nodes: { n1: 1 } },
            { userId: 'bob', node: 'n1', sessions: 1, nodes: { n1: 1, n2: 1 } },
          ]);
          expect(await n2!.locate('bob', '42')).to.deep.equal(['n1', 'n2']);
          // Bob's most recent node goes; the node still holding him takes its place.
          await n1!.leaveDoc('42', 'bob', 's3');
          expect(await n1!.presence('42')).to.deep.equal([
            { userId: 'alice', node: 'n1', sessions: 1, nodes: { n1: 1 } },
            { userId: 'bob', node: 'n2', sessions: 1, nodes: { n2: 1 } },
          ]);
        });

        it('keeps counts right under 200 concurrent interleaved updates from 3 nodes', async () => {
          const regs = await nodes('n1', 'n2', 'n3');
          const expected: Record<NodeId, number> = {};
          await Promise.all(
            Array.from({ length: 200 }, async (_, i) => {
              const r = regs[i % 3]!;
              const session = `s${i}`;
              await r.addSession('alice', session);
              await r.joinDoc('42', 'alice', session);
              if (i % 2 === 0) {
                await r.leaveDoc('42', 'alice', session);
                await r.removeSession('alice', session);
              }
            }),
          );
          for (let i = 1; i < 200; i += 2) expected[regs[i % 3]!.nodeId] = (expected[regs[i % 3]!.nodeId] ?? 0) + 1;
          const [entry] = await regs[0]!.presence('42');
          expect(entry?.nodes).to.deep.equal(expected);
          expect(await regs[1]!.locate('alice')).to.deep.equal(['n1', 'n2', 'n3']);

          // Undo the rest concurrently: nothing is left, nothing went negative.
          await Promise.all(
            Array.from({ length: 100 }, async (_, k) => {
              const i = 2 * k + 1;
              const r = regs[i % 3]!;
              await Promise.all([r.leaveDoc('42', 'alice', `s${i}`), r.removeSession('alice', `s${i}`)]);
            }),
          );
          expect(await regs[2]!.presence('42')).to.deep.equal([]);
          expect(await regs[2]!.locate('alice')).to.deep.equal([]);
        });

        it('removes another node entirely with removeNode, leaving the others', async () => {
          const [n1, n2] = await nodes('n1', 'n2');
          await n1!.addSession('alice', 's1');
          await n1!.joinDoc('42', 'alice', 's1');
          await n2!.addSession('alice', 's2');
          await n2!.joinDoc('42', 'alice', 's2');
          await n1!.removeNode('n2');
          expect(await n1!.locate('alice')).to.deep.equal(['n1']);
          expect(await n1!.presence('42')).to.deep.equal([
            { userId: 'alice', node: 'n1', sessions: 1, nodes: { n1: 1 } },
          ]);
          expect(await n1!.liveNodes()).to.deep.equal(['n1']);
        });

        it('lists every node that keeps alive', async () => {
          const [n1] = await nodes('n1', 'n2', 'n3');
          expect(await n1!.liveNodes()).to.deep.equal(['n1', 'n2', 'n3']);
        });
      });
  });
}
