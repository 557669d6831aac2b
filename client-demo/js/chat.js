// @ts-check

/** @typedef {import('./stomp-session.js').StompSession} StompSession */
/** @typedef {import('./presence.js').PresenceUser} PresenceUser */

/**
 * @typedef {object} ChatMessage  what the server's chat handler delivers (SPEC §4)
 * @property {string} id
 * @property {string} from
 * @property {string} to
 * @property {string} docId
 * @property {string} content
 * @property {string} sentAt
 */

/**
 * Chat between co-authors, as in the blog-editor seed: `SEND /app/chat/{me}/{to}/{docId}` with
 * the text; the server finds `to` wherever it is connected and delivers on
 * `/user/{docId}/queue/chat`.
 *
 * @param {{
 *   session: StompSession, docId: string, me: string,
 *   log: HTMLElement, form: HTMLFormElement, to: HTMLSelectElement, text: HTMLInputElement,
 *   onProblem: (text: string) => void,
 * }} options
 */
export function startChat({ session, docId, me, log, form, to, text, onProblem }) {
  session.subscribe(`/user/${docId}/queue/chat`, (message) => {
    /** @type {ChatMessage} */
    const chat = JSON.parse(message.body);
    append({ from: chat.from, to: chat.to, content: chat.content, sentAt: chat.sentAt, own: false });
  });

  form.onsubmit = (event) => {
    event.preventDefault();
    const peer = to.value;
    const content = text.value.trim();
    if (!peer || !content) return;
    if (!session.publishText(`/app/chat/${me}/${peer}/${docId}`, content)) {
      onProblem('not connected: the message was not sent');
      return;
    }
    append({ from: me, to: peer, content, sentAt: new Date().toISOString(), own: true });
    text.value = '';
  };

  /** @param {{ from: string, to: string, content: string, sentAt: string, own: boolean }} m */
  function append(m) {
    const li = document.createElement('li');
    li.dataset.testid = 'chat-message';
    li.dataset.from = m.from;
    li.className = m.own ? 'own' : 'theirs';
    const meta = document.createElement('div');
    meta.className = 'meta';
    const time = new Date(m.sentAt);
    meta.textContent = `${m.own ? `you → ${m.to}` : m.from} · ${Number.isNaN(time.getTime()) ? m.sentAt : time.toLocaleTimeString()}`;
    const body = document.createElement('div');
    body.className = 'content';
    body.textContent = m.content;
    li.append(meta, body);
    log.append(li);
    log.scrollTop = log.scrollHeight;
  }

  return {
    /** Offers every present user but me as a recipient, keeping the current choice. */
    setPeople(/** @type {PresenceUser[]} */ users) {
      const chosen = to.value;
      const others = users.map((u) => u.userId).filter((u) => u !== me);
      to.replaceChildren(
        ...(others.length === 0
          ? [new Option('nobody to chat with', '')]
          : others.map((u) => new Option(u, u, false, u === chosen))),
      );
      to.disabled = others.length === 0;
    },
  };
}
