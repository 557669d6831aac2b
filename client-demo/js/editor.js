// @ts-check

/** @typedef {import('./stomp-session.js').StompSession} StompSession */

/**
 * @typedef {object} SectionEdit  the body of `/topic/docs/{docId}/sections/{n}`
 * @property {number} section
 * @property {string} text
 * @property {string} editor   the user who typed it
 * @property {number} at       epoch ms
 * @property {string} [tab]    the page that sent it, to skip our own echo (not the user: the same user may have two tabs)
 * @property {boolean} [sync]  a replay for a newcomer, not a live edit
 */

export const SECTIONS = [
  { title: 'Introduction', placeholder: 'What is this post about?' },
  { title: 'The problem', placeholder: 'Why do WebSocket sessions break in a cluster?' },
  { title: 'Our design', placeholder: 'How does the message find its node?' },
  { title: 'Next steps', placeholder: 'What comes next?' },
];
const THROTTLE_MS = 150;
/** "editing: bob" turns into "last edit: bob, 10:02:03" after this much quiet. */
const EDITING_SHOWN_MS = 4000;

/**
 * The collaborative editor: one textarea per section. Typing publishes the section's whole text
 * (throttled) on `/topic/docs/{docId}/sections/{n}`; the others replace theirs and show who is
 * editing. Last writer wins: enough for a demo of the transport, not a CRDT.
 *
 * @param {{ session: StompSession, docId: string, me: string, root: HTMLElement }} options
 */
export function startEditor({ session, docId, me, root }) {
  const tab = Math.random().toString(36).slice(2, 10);
  const sections = SECTIONS.map(({ title, placeholder }, n) => {
    const box = document.createElement('div');
    box.className = 'section';
    const head = document.createElement('div');
    head.className = 'section-head';
    const h3 = document.createElement('h3');
    h3.textContent = `${n + 1}. ${title}`;
    const who = document.createElement('span');
    who.className = 'who';
    who.dataset.testid = `section-${n}-editor`;
    head.append(h3, who);
    const area = document.createElement('textarea');
    area.dataset.testid = `section-${n}`;
    area.placeholder = placeholder;
    area.spellcheck = false;
    box.append(head, area);
    root.append(box);

    const destination = `/topic/docs/${docId}/sections/${n}`;
    const state = { lastEditor: '', quiet: /** @type {number | undefined} */ (undefined) };
    const send = throttle(() => {
      state.lastEditor = me;
      /** @type {SectionEdit} */
      const edit = { section: n, text: area.value, editor: me, at: Date.now(), tab };
      session.publish(destination, JSON.stringify(edit));
    }, THROTTLE_MS);
    area.addEventListener('input', send);

    session.subscribe(destination, (message) => {
      /** @type {SectionEdit} */
      const edit = JSON.parse(message.body);
      if (edit.tab === tab) return;
      state.lastEditor = edit.editor;
      replaceKeepingCaret(area, edit.text);
      clearTimeout(state.quiet);
      const when = new Date(edit.at).toLocaleTimeString();
      if (edit.sync) {
        who.textContent = `last edit: ${edit.editor}, ${when}`;
        who.className = 'who';
        return;
      }
      who.textContent = `editing: ${edit.editor}`;
      who.className = 'who live';
      state.quiet = window.setTimeout(() => {
        who.textContent = `last edit: ${edit.editor}, ${when}`;
        who.className = 'who';
      }, EDITING_SHOWN_MS);
    });
    return { n, area, destination, state };
  });

  return {
    /** A newcomer starts empty: replay the sections this page wrote last. */
    resync() {
      for (const s of sections) {
        if (s.state.lastEditor !== me || s.area.value === '') continue;
        /** @type {SectionEdit} */
        const edit = { section: s.n, text: s.area.value, editor: me, at: Date.now(), tab, sync: true };
        session.publish(s.destination, JSON.stringify(edit));
      }
    },
  };
}

/** @param {HTMLTextAreaElement} area @param {string} text */
function replaceKeepingCaret(area, text) {
  if (area.value === text) return;
  const focused = document.activeElement === area;
  const { selectionStart, selectionEnd } = area;
  area.value = text;
  if (focused) area.setSelectionRange(Math.min(selectionStart, text.length), Math.min(selectionEnd, text.length));
}

/**
 * Calls `fn` at most once per `ms`, and once more after the last call (so the final text is sent).
 * @param {() => void} fn @param {number} ms
 */
function throttle(fn, ms) {
  let last = 0;
  /** @type {number | undefined} */
  let pending;
  return () => {
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
      return;
    }
    if (pending !== undefined) return;
    pending = window.setTimeout(() => {
      pending = undefined;
      last = Date.now();
      fn();
    }, wait);
  };
}
