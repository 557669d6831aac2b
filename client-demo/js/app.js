// @ts-check
import { startChat } from './chat.js';
import { startEditor } from './editor.js';
import { startPresence } from './presence.js';
import { startProgress } from './progress.js';
import { createStompSession } from './stomp-session.js';

/** @typedef {import('./stomp-session.js').ConnectionState} ConnectionState */

/** @template {HTMLElement} T @param {string} id @returns {T} */
const $ = (id) => /** @type {T} */ (document.getElementById(id));

const loginForm = /** @type {HTMLFormElement} */ ($('login'));
const userInput = /** @type {HTMLInputElement} */ (loginForm.elements.namedItem('user'));
const docInput = /** @type {HTMLInputElement} */ (loginForm.elements.namedItem('doc'));
const leaveButton = /** @type {HTMLButtonElement} */ ($('leave'));
const workspace = $('workspace');
const intro = $('intro');

const query = new URLSearchParams(location.search);
userInput.value = query.get('user') ?? userInput.value;
docInput.value = query.get('doc') ?? docInput.value;

/** @type {{ leave: () => Promise<void>, abandon: () => void } | undefined} */
let current;

loginForm.onsubmit = async (event) => {
  event.preventDefault();
  await current?.leave();
  current = undefined;
  try {
    current = openDocument(userInput.value.trim(), docInput.value.trim());
  } catch (err) {
    notice(`cannot open the document: ${err instanceof Error ? err.message : String(err)}`);
  }
};
leaveButton.onclick = async () => {
  await current?.leave();
  current = undefined;
};
// Closing the tab cannot wait for receipts: say goodbye and go; the others' polling catches up.
addEventListener('pagehide', () => current?.abandon());

/**
 * Opens document `docId` as `me`: one STOMP session, the four features on it.
 * @param {string} me @param {string} docId
 */
function openDocument(me, docId) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const session = createStompSession({ url, login: me, onState: showState, onProblem: notice });
  resetWorkspace(docId);

  const chat = startChat({
    session,
    docId,
    me,
    onProblem: notice,
    log: $('chat-log'),
    form: $('chat-form'),
    to: $('chat-to'),
    text: $('chat-text'),
  });
  const editor = startEditor({ session, docId, me, root: $('editor'), status: $('editor-status') });
  const presence = startPresence({
    session,
    docId,
    me,
    onProblem: notice,
    list: $('presence-list'),
    info: $('node-info'),
    onUsers: (users) => chat.setPeople(users),
  });
  startProgress({
    session,
    me,
    onProblem: notice,
    bar: $('progress-bar'),
    fill: $('progress-fill'),
    percent: $('progress-percent'),
    job: $('progress-job'),
    curlButton: $('progress-curl-button'),
    curl: $('progress-curl'),
    simulate: $('progress-simulate'),
  });
  // Spring's habit: a refused /app message comes back on the sender's /user/queue/errors.
  session.subscribe('/user/queue/errors', (message) => notice(`server: ${errorText(message.body)}`));
  session.start();

  loginForm.classList.add('open');
  userInput.readOnly = true;
  leaveButton.hidden = false;
  workspace.hidden = false;
  intro.hidden = true;
  document.title = `${me} · doc ${docId} · stomp-relay demo`;

  return {
    async leave() {
      presence.stop();
      editor.stop();
      await session.close(() => presence.farewell());
      loginForm.classList.remove('open');
      userInput.readOnly = false;
      leaveButton.hidden = true;
      workspace.hidden = true;
      intro.hidden = false;
      document.title = 'stomp-relay demo';
    },
    abandon() {
      presence.farewell();
      presence.stop();
      editor.stop();
      void session.close();
    },
  };
}

/** @param {string} docId */
function resetWorkspace(docId) {
  $('doc-title').textContent = docId;
  for (const id of ['presence-list', 'chat-log', 'editor', 'editor-status', 'node-info']) $(id).replaceChildren();
  $('progress-fill').style.width = '0%';
  $('progress-bar').classList.remove('done');
  $('progress-bar').setAttribute('aria-valuenow', '0');
  $('progress-percent').textContent = '0%';
  $('progress-job').textContent = 'no job yet';
  $('progress-curl').hidden = true;
}

const STATE_TEXT = {
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  closed: 'not connected',
};

/** @param {ConnectionState} s */
function showState(s) {
  $('conn-state').textContent = STATE_TEXT[s.state];
  $('conn-dot').className = `dot ${s.state}`;
  const detail = $('conn-detail');
  if (s.error) notice(`server closed the session: ${s.error}`);
  if (s.state !== 'connected') {
    detail.textContent = '';
    return;
  }
  // CONNECTED names the server software and the session, not the node; the registry (presence
  // panel) says which node holds the session. /healthz names the node that answered the HTTP
  // request, which behind a round-robin balancer need not be the WebSocket's node.
  const session = s.session ?? '?';
  detail.textContent = `as ${s.user ?? '?'} · ${s.server ?? 'server ?'} · session ${session.length > 12 ? `${session.slice(0, 8)}…` : session}`;
  detail.title = `session ${session}`;
  void fetch('/healthz')
    .then((r) => r.json())
    .then((h) => {
      const span = Object.assign(document.createElement('span'), {
        className: 'http-node',
        textContent: ` · /healthz answered by ${h.node}`,
        title: "the node that answered GET /healthz; behind a balancer, not necessarily the WebSocket's node",
      });
      span.dataset.testid = 'healthz-node';
      detail.append(span);
    })
    .catch(() => {});
}

/** @param {string} body */
function errorText(body) {
  try {
    const parsed = JSON.parse(body);
    return parsed.message ?? parsed.error ?? body;
  } catch {
    return body;
  }
}

/** A short-lived message in the corner. @param {string} text */
function notice(text) {
  const li = document.createElement('li');
  li.dataset.testid = 'notice';
  li.textContent = text;
  $('notices').append(li);
  setTimeout(() => li.remove(), 6000);
}
