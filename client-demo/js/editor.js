// @ts-check
import { basicSetup, EditorState, EditorView, placeholder, StompYjsProvider, Y, yCollab } from '/vendor/demo.js';

/** @typedef {import('./stomp-session.js').StompSession} StompSession */

/** Cursor colours of the co-authors (a name always gets the same one). */
const COLOURS = ['#c2410c', '#15803d', '#1d4ed8', '#a21caf', '#b45309', '#0e7490', '#be123c', '#4d7c0f'];

const PLACEHOLDER = 'Write here together: several people may type in the same paragraph at once.';

/**
 * The collaborative editor: CodeMirror 6 on a Yjs document (y-codemirror.next), synced by
 * stomp-relay's Yjs provider over the page's STOMP session. Edits of several people in the same
 * paragraph merge (a CRDT); remote cursors carry the co-authors' names from Yjs awareness. The
 * cluster keeps the document, so it is there when the page opens even with no one else online.
 *
 * @param {{ session: StompSession, docId: string, me: string, root: HTMLElement, status: HTMLElement }} options
 */
export function startEditor({ session, docId, me, root, status }) {
  const doc = new Y.Doc();
  const text = doc.getText('body');
  const provider = new StompYjsProvider(session.client, docId, doc, { resume: session.resume });
  const colour = COLOURS[[...me].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % COLOURS.length];
  provider.awareness.setLocalStateField('user', { name: me, color: colour, colorLight: `${colour}33` });

  const view = new EditorView({
    parent: root,
    state: EditorState.create({
      doc: text.toString(),
      extensions: [basicSetup, EditorView.lineWrapping, placeholder(PLACEHOLDER), yCollab(text, provider.awareness)],
    }),
  });
  view.contentDOM.dataset.testid = 'editor-text';

  /** Who else has a cursor here, from awareness. */
  const showStatus = () => {
    const others = [...provider.awareness.getStates().entries()]
      .filter(([id]) => id !== doc.clientID)
      .map(([, state]) => /** @type {{ name?: string } | undefined} */ (state.user)?.name)
      .filter((name) => typeof name === 'string')
      .sort();
    const sync = provider.synced ? 'synced' : provider.status === 'connected' ? 'syncing…' : 'offline, edits kept';
    status.textContent = others.length > 0 ? `${sync} · also here: ${others.join(', ')}` : `${sync} · no one else here`;
    status.dataset.synced = String(provider.synced);
  };
  provider.awareness.on('change', showStatus);
  provider.on('synced', showStatus);
  provider.on('status', showStatus);
  showStatus();

  return {
    /** Leaves the document: the others see the cursor go. */
    stop() {
      provider.destroy();
      view.destroy();
      doc.destroy();
    },
  };
}
