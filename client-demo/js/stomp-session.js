// @ts-check
import { StompResume } from '/vendor/demo.js';

/** @typedef {import('@stomp/stompjs').Client} Client */
/** @typedef {import('@stomp/stompjs').IMessage} IMessage */
/** @typedef {import('../../client/stomp-resume.js').ResumableSubscription} ResumableSubscription */

/**
 * @typedef {object} ConnectionState
 * @property {'connecting' | 'connected' | 'reconnecting' | 'closed'} state
 * @property {string} [server]   CONNECTED `server` header (name/version; CONNECTED names no node)
 * @property {string} [session]  CONNECTED `session` header
 * @property {string} [user]     CONNECTED `user-name` header: the principal the server sees
 * @property {string} [error]    the last ERROR frame's `message`, if any
 */

const RECONNECT_DELAY_MS = 2000;
const RECEIPT_TIMEOUT_MS = 3000;
let receiptSeq = 0;

/**
 * One STOMP.js client for the page. STOMP.js reconnects by itself (`reconnectDelay`) but forgets
 * subscriptions: stomp-relay's resume helper makes them again on every CONNECTED, resuming where
 * they left off when the server keeps history for them (no message missed, none twice).
 * `onReady` callbacks run after each (re)connect once the server has confirmed every subscription
 * with a RECEIPT: from then on the server has the user in the document's presence (SPEC §5).
 *
 * @param {{ url: string, login: string, onState: (s: ConnectionState) => void, onProblem: (text: string) => void }} options
 */
export function createStompSession({ url, login, onState, onProblem }) {
  /** @type {{ Client: typeof import('@stomp/stompjs').Client } | undefined} */
  const stompJs = /** @type {any} */ (window).StompJs;
  if (!stompJs) throw new Error('STOMP.js did not load (/vendor/stomp.umd.min.js)');
  const { Client } = stompJs;
  /** @type {Set<ResumableSubscription>} */
  const wanted = new Set();
  /** Subscriptions not yet confirmed since the last CONNECTED. */
  const unconfirmed = new Set();
  /** @type {Array<() => void>} */
  const everyReady = [];
  /** The callbacks still to run for the current connection. @type {Array<() => void>} */
  const readyCallbacks = [];
  let connectedOnce = false;
  let closing = false;

  /** @type {Client} */
  const client = new Client({
    brokerURL: url,
    connectHeaders: { login },
    reconnectDelay: RECONNECT_DELAY_MS,
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
    debug: () => {},
  });

  const resume = new StompResume(client, {
    onSubscribed: (subscription) => {
      unconfirmed.delete(subscription.id);
      if (unconfirmed.size === 0 && client.connected) for (const cb of readyCallbacks.splice(0)) cb();
    },
    // The missed messages have left the server's history: say so rather than show a silent gap.
    onNotRecovered: (subscription) =>
      onProblem(`some messages on ${subscription.destination} were missed while reconnecting`),
  });

  // The helper has sent every SUBSCRIBE again before this runs.
  client.onConnect = (frame) => {
    connectedOnce = true;
    const h = frame.headers;
    onState({ state: 'connected', server: h.server, session: h.session, user: h['user-name'] });
    for (const w of wanted) unconfirmed.add(w.id);
    readyCallbacks.splice(0, readyCallbacks.length, ...everyReady);
  };
  client.onStompError = (frame) => {
    onState({ state: 'reconnecting', error: frame.headers.message ?? 'ERROR frame' });
  };
  client.onWebSocketClose = () => {
    if (!closing) onState({ state: connectedOnce ? 'reconnecting' : 'connecting' });
  };

  /** Calls `send` with a fresh receipt id; resolves at that RECEIPT, or after a timeout (never rejects). */
  function withReceipt(/** @type {(receipt: string) => void} */ send) {
    const receipt = `r-${++receiptSeq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, RECEIPT_TIMEOUT_MS);
      client.watchForReceipt(receipt, () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      send(receipt);
    });
  }

  return {
    /** Starts connecting; call after the page's modules registered their subscriptions. */
    start() {
      onState({ state: 'connecting' });
      client.activate();
    },

    /**
     * Subscribes now if connected, and again after every reconnect.
     * @param {string} destination
     * @param {(message: IMessage) => void} onMessage
     */
    subscribe(destination, onMessage) {
      wanted.add(resume.subscribe(destination, onMessage));
    },

    /** @param {() => void} callback  runs after each (re)connect, once all subscriptions are confirmed */
    onReady(callback) {
      everyReady.push(callback);
    },

    /** The STOMP.js client and its resume helper, for what builds on them (the document's Yjs provider). */
    client,
    resume,

    /**
     * @param {string} destination
     * @param {string} body
     * @returns {boolean} false when not connected (nothing is queued while reconnecting)
     */
    publish(destination, body, headers = {}) {
      if (!client.connected) return false;
      client.publish({ destination, body, headers: { 'content-type': 'application/json', ...headers } });
      return true;
    },

    /** Sends a plain-text body (the chat handler takes the text as it is). */
    publishText(/** @type {string} */ destination, /** @type {string} */ text) {
      if (!client.connected) return false;
      client.publish({ destination, body: text, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
      return true;
    },

    /**
     * Leaves cleanly: unsubscribes (the last UNSUBSCRIBE with a receipt, so the server has left
     * the document's presence), runs `farewell` (e.g. a leave note), then DISCONNECTs.
     * @param {() => void} [farewell]
     */
    async close(farewell) {
      closing = true;
      const all = [...wanted];
      wanted.clear();
      if (client.connected) {
        const last = all.pop();
        for (const s of all) s.unsubscribe();
        if (last) await withReceipt((receipt) => last.unsubscribe({ receipt }));
        farewell?.();
      } else {
        for (const s of all) s.unsubscribe();
      }
      readyCallbacks.length = 0;
      everyReady.length = 0;
      await client.deactivate();
      onState({ state: 'closed' });
    },
  };
}

/** @typedef {ReturnType<typeof createStompSession>} StompSession */
