import { expect } from 'chai';
import * as Y from 'yjs';
import { COMPACT_AFTER, DocTooLarge, type DocStateLimits, type DocStates } from '../../server/yjs/doc-states.js';
import { waitFor } from '../helpers/wait.js';

export const LIMITS: DocStateLimits = { maxBytes: 64 * 1024, ttlMs: 60_000 };

/** An editor's document whose every change is one update, as a provider sends them. */
export function editor(): { doc: Y.Doc; text: Y.Text; updates: Uint8Array[] } {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on('update', (u: Uint8Array) => updates.push(u));
  return { doc, text: doc.getText('t'), updates };
}

/** The text a newcomer sees when it applies the stored state. */
export function textOf(state: Uint8Array): string {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, state);
  return doc.getText('t').toString();
}

/** The DocStates contract, one suite per implementation (`shared`: several instances see one store). */
export function docStatesContract(
  label: string,
  make: (limits: DocStateLimits) => Promise<{ states: DocStates; more?: () => DocStates }>,
  shared = false,
): void {
  describe(`document states: ${label}`, () => {
    let states: DocStates;
    let more: (() => DocStates) | undefined;
    const opened: DocStates[] = [];

    beforeEach(async () => {
      ({ states, more } = await make(LIMITS));
      opened.push(states);
    });
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

    it('an unknown document is an empty document', async () => {
      expect(textOf(await states.state('nobody'))).to.equal('');
    });

    it('a newcomer gets every update merged, concurrent edits of two editors included', async () => {
      const a = editor();
      const b = editor();
      a.text.insert(0, 'hello');
      b.text.insert(0, 'world');
      for (const u of [...a.updates, ...b.updates]) await states.apply('d1', u);
      const text = textOf(await states.state('d1'));
      Y.applyUpdate(a.doc, Y.encodeStateAsUpdate(b.doc));
      expect(text).to.equal(a.text.toString());
      expect(text).to.have.length(10);
      expect(textOf(await states.state('d2'))).to.equal('', 'another document is untouched');
    });

    it(`merges past ${COMPACT_AFTER} updates and loses none, deletions included`, async () => {
      const a = editor();
      for (let i = 0; i < COMPACT_AFTER * 3; i++) a.text.insert(a.text.length, String(i % 10));
      a.text.delete(0, 5);
      for (const u of a.updates) await states.apply('long', u);
      await waitFor(
        async () => textOf(await states.state('long')) === a.text.toString(),
        'the merged state equals the editor',
      );
    });

    it('refuses an update past maxBytes and keeps what it had', async () => {
      const a = editor();
      a.text.insert(0, 'kept');
      await states.apply('big', a.updates[0]!);
      a.text.insert(4, 'x'.repeat(LIMITS.maxBytes));
      let refused: unknown;
      await states.apply('big', a.updates[1]!).catch((err: unknown) => (refused = err));
      expect(refused).to.be.instanceOf(DocTooLarge);
      expect(textOf(await states.state('big'))).to.equal('kept');
    });

    // Only where two nodes share the states (Redis): in memory each node has its own.
    if (!shared) return;
    it('two nodes writing one document at once lose nothing (merges race appends)', async () => {
      const other = more!();
      opened.push(other);
      const a = editor();
      const b = editor();
      for (let i = 0; i < COMPACT_AFTER * 2; i++) {
        a.text.insert(a.text.length, 'a');
        b.text.insert(b.text.length, 'b');
      }
      await Promise.all([
        (async () => {
          for (const u of a.updates) await states.apply('race', u);
        })(),
        (async () => {
          for (const u of b.updates) await other.apply('race', u);
        })(),
      ]);
      Y.applyUpdate(a.doc, Y.encodeStateAsUpdate(b.doc));
      await waitFor(async () => textOf(await other.state('race')) === a.text.toString(), "both editors' text, whole");
      expect(a.text.toString()).to.have.length(COMPACT_AFTER * 4);
    });
  });
}
