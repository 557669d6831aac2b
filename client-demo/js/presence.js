// @ts-check

/** @typedef {import('./stomp-session.js').StompSession} StompSession */

/**
 * @typedef {object} PresenceUser  one entry of GET /api/docs/{docId}/presence
 * @property {string} userId
 * @property {string} node
 * @property {number} sessions
 * @property {Record<string, number>} nodes
 */

const POLL_MS = 4000;
/** A leave note may overtake the server's own cleanup of a closed tab: look again a bit later. */
const AFTER_LEAVE_MS = 1500;

/**
 * Who else is in the document. The server keeps presence (a Redis hash per document) and
 * announces changes on `/topic/docs/{docId}/presence` (`{type: 'presence', joined, left}`); each
 * page also says "join"/"leave" there, and every page re-reads `GET /api/docs/{docId}/presence`
 * when a notice or note arrives, and every few seconds.
 *
 * @param {{
 *   session: StompSession, docId: string, me: string,
 *   list: HTMLElement, info: HTMLElement,
 *   onUsers: (users: PresenceUser[]) => void,
 *   onProblem: (text: string) => void,
 * }} options
 */
export function startPresence({ session, docId, me, list, info, onUsers, onProblem }) {
  const topic = `/topic/docs/${docId}/presence`;
  const url = `/api/docs/${encodeURIComponent(docId)}/presence`;
  let requestSeq = 0;
  let shownSeq = 0;
  let failing = false;
  let stopped = false;

  /** @param {'join' | 'leave'} type */
  const note = (type) => session.publish(topic, JSON.stringify({ type, user: me, at: new Date().toISOString() }));

  session.subscribe(topic, (message) => {
    /** @type {{ type?: string, user?: string, left?: unknown[] }} */
    let body = {};
    try {
      body = JSON.parse(message.body);
    } catch {
      // someone else's note in another format: still a reason to look again
    }
    void refresh();
    if (body.type === 'leave' || (Array.isArray(body.left) && body.left.length > 0))
      setTimeout(refresh, AFTER_LEAVE_MS);
  });
  session.onReady(() => {
    note('join');
    void refresh();
  });
  const timer = setInterval(refresh, POLL_MS);

  async function refresh() {
    if (stopped) return;
    const seq = ++requestSeq;
    try {
      const res = await fetch(url, { headers: { accept: 'application/json' } });
      const body = await res.json();
      if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
      if (stopped || seq < shownSeq) return; // left meanwhile, or an older answer arriving late
      shownSeq = seq;
      failing = false;
      render(/** @type {PresenceUser[]} */ (body.users));
    } catch (err) {
      if (!failing) onProblem(`presence: ${err instanceof Error ? err.message : String(err)}`);
      failing = true;
    }
  }

  /** @param {PresenceUser[]} users */
  function render(users) {
    const sorted = [...users].sort((a, b) =>
      a.userId === me ? -1 : b.userId === me ? 1 : a.userId.localeCompare(b.userId),
    );
    list.replaceChildren(
      ...sorted.map((u) => {
        const li = document.createElement('li');
        li.dataset.testid = 'presence-user';
        li.dataset.user = u.userId;
        li.dataset.node = u.node;
        li.className = u.userId === me ? 'me' : '';
        const name = document.createElement('span');
        name.className = 'name';
        name.textContent = u.userId;
        if (u.userId === me) name.append(Object.assign(document.createElement('small'), { textContent: ' (you)' }));
        const where = document.createElement('span');
        where.className = 'node';
        where.textContent = Object.keys(u.nodes ?? { [u.node]: u.sessions }).join(', ');
        where.title = "node(s) holding this user's sessions, from the registry";
        li.append(name, where);
        return li;
      }),
    );
    if (users.length === 0)
      list.append(Object.assign(document.createElement('li'), { className: 'empty', textContent: 'nobody yet' }));
    const mine = users.find((u) => u.userId === me);
    info.textContent = mine
      ? `The registry has your session${sessionsOf(mine) > 1 ? 's' : ''} on ${Object.keys(mine.nodes ?? { [mine.node]: 1 }).join(', ')}.`
      : 'Waiting for the registry to list you…';
    onUsers(users);
  }

  return {
    refresh,
    /** Says goodbye on the topic (call once the server has left the document). */
    farewell: () => note('leave'),
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** @param {PresenceUser} u */
function sessionsOf(u) {
  return Object.values(u.nodes ?? {}).reduce((a, b) => a + b, 0) || u.sessions;
}
