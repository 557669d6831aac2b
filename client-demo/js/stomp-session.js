// @ts-check

/** @typedef {import('@stomp/stompjs').Client} Client */
/** @typedef {import('@stomp/stompjs').IMessage} IMessage */
/** @typedef {import('@stomp/stompjs').StompSubscription} StompSubscription */

/**
 * @typedef {object} ConnectionState
 * @property {'connecting' | 'connected' | 'reconnecting' | 'closed'} state
 * @property {string} [server]   CONNECTED `server` header (name/version; CONNECTED names no node)
 * @property {string} [session]  CONNECTED `session` header
 * @property {string} [user]     CONNECTED `user-name` header: the principal the server sees
 * @property {string} [error]    the last ERROR frame's `message`, if any
 */

/**
 * @typedef {object} Wanted  a subscription the page wants, re-made after every reconnect
 * @property {string} destination
 * @property {(message: IMessage) => void} onMessage
 * @property {StompSubscription | undefined} live
 */

const RECONNECT_DELAY_MS = 2000;
const RECEIPT_TIMEOUT_MS = 3000;
let receiptSeq = 0;

/**
 * One STOMP.js client for the page. STOMP.js reconnects by itself (`reconnectDelay`) but forgets
 * subscriptions, so this keeps the list the page wants and makes them again on every CONNECTED.
 * `onReady` callbacks run after each (re)connect once the server has confirmed every subscription
 * with a RECEIPT: from then on the server has the user in the document's presence (SPEC §5).
 *
 * @param {{ url: string, login: string, onState: (s: ConnectionState) => void }} options
 */
export function createStompSession({ url, login, onState }) {
  /** @type {{ Client: typeof import('@stomp/stompjs').Client } | undefined} */
  const stompJs = /** @type {any} */ (window).StompJs;
  if (!stompJs) throw new Error('STOMP.js did not load (/vendor/stomp.umd.min.js)');
  const { Client } = stompJs;
  /** @type {Set<Wanted>} */
  const wanted = new Set();
  /** @type {Array<() => void>} */
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

  client.onConnect = (frame) => {
    connectedOnce = true;
    const h = frame.headers;
    onState({ state: 'connected', server: h.server, session: h.session, user: h['user-name'] });
    const confirmed = [...wanted].map((w) => establish(w));
    void Promise.all(confirmed).then(() => {
      if (client.connected) for (const cb of readyCallbacks) cb();
    });
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

  function establish(/** @type {Wanted} */ w) {
    return withReceipt((receipt) => {
      w.live = client.subscribe(w.destination, w.onMessage, { receipt });
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
      /** @type {Wanted} */
      const w = { destination, onMessage, live: undefined };
      wanted.add(w);
      if (client.connected) void establish(w);
    },

    /** @param {() => void} callback  runs after each (re)connect, once all subscriptions are confirmed */
    onReady(callback) {
      readyCallbacks.push(callback);
    },

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
      if (client.connected) {
        const live = [...wanted].flatMap((w) => (w.live ? [w.live] : []));
        const last = live.pop();
        for (const s of live) s.unsubscribe();
        if (last) await withReceipt((receipt) => last.unsubscribe({ receipt }));
        farewell?.();
      }
      wanted.clear();
      readyCallbacks.length = 0;
      await client.deactivate();
      onState({ state: 'closed' });
    },
  };
}

/** @typedef {ReturnType<typeof createStompSession>} StompSession */
