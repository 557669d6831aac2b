import type { Client, IMessage, StompSubscription } from '@stomp/stompjs';
import { ObservableV2 } from 'lib0/observable';
import { applyAwarenessUpdate, Awareness, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import * as Y from 'yjs';
import { StompResume, type ResumableSubscription, type SubscribeOutcome } from './stomp-resume.js';

/** The destinations of a document, as the server defines them (SPEC §12). */
export const YJS_DESTINATIONS = {
  send: (doc: string) => `/app/docs/${doc}/yjs`,
  state: (doc: string) => `/app/docs/${doc}/yjs/state`,
  updates: (doc: string) => `/topic/docs/${doc}/yjs`,
  awareness: (doc: string) => `/topic/docs/${doc}/awareness`,
} as const;

export type ProviderStatus = 'connecting' | 'connected' | 'disconnected';

export interface StompYjsProviderOptions {
  /** Who is here and where their cursor is; default: a new one for `doc`. */
  readonly awareness?: Awareness;
  /** The application's resume helper for this client, if it has one; default: the provider's own. */
  readonly resume?: StompResume;
}

type ProviderEvents = {
  /** connecting → connected (subscribed) → disconnected → connected … */
  status: (event: { status: ProviderStatus }) => void;
  /** The document holds everything the cluster has (true), or the connection was lost (false). */
  synced: (synced: boolean) => void;
  /** y-websocket's older name of `synced`, for bindings that listen to it. */
  sync: (synced: boolean) => void;
};

const OCTETS = 'application/octet-stream';
/** Awareness answers to a newcomer are sent at most this often. */
const ANNOUNCE_MS = 500;
let providers = 0;

/**
 * A Yjs provider over STOMP (as y-websocket's `WebsocketProvider`, for a stomp-relay cluster).
 * The document's updates travel as binary STOMP bodies: local ones are SENT to
 * `/app/docs/{docId}/yjs` (the cluster keeps them), every applied one arrives on
 * `/topic/docs/{docId}/yjs`. After every (re)connect it either resumes the update stream where it
 * left off (history on for that topic) or takes the whole state from `/app/docs/{docId}/yjs/state`
 * and sends what the cluster lacks; updates whose RECEIPT never came are sent again. Yjs updates
 * are idempotent and commutative, so a copy or a reordering never harms the document.
 *
 * The STOMP client's `onWebSocketClose` is wrapped: set your own before creating the provider.
 */
export class StompYjsProvider extends ObservableV2<ProviderEvents> {
  readonly doc: Y.Doc;
  readonly docId: string;
  readonly awareness: Awareness;
  readonly #client: Client;
  readonly #resume: StompResume;
  /** Made here, so destroyed here (an application's own ones are left to it). */
  readonly #owns: { awareness: boolean; resume: boolean };
  readonly #subscriptions: ResumableSubscription[];
  readonly #receiptPrefix = `yjs-${++providers}-`;
  /** Sent, no RECEIPT yet: sent again after a reconnect unless the full sync covers them. */
  readonly #unconfirmed = new Map<string, Uint8Array>();
  /** Made while no connection could take them. */
  #offline: Uint8Array[] = [];
  #seq = 0;
  /** Counts syncs, so that a state arriving for an earlier connection is ignored. */
  #syncs = 0;
  #stateSubscription: StompSubscription | undefined;
  #status: ProviderStatus = 'connecting';
  #synced = false;
  #lastAnnounce = 0;
  #announceTimer: ReturnType<typeof setTimeout> | undefined;
  #destroyed = false;

  constructor(client: Client, docId: string, doc: Y.Doc, options: StompYjsProviderOptions = {}) {
    super();
    this.#client = client;
    this.docId = docId;
    this.doc = doc;
    this.awareness = options.awareness ?? new Awareness(doc);
    this.#resume = options.resume ?? new StompResume(client);
    this.#owns = { awareness: options.awareness === undefined, resume: options.resume === undefined };
    doc.on('update', this.#onDocUpdate);
    this.awareness.on('update', this.#onAwarenessUpdate);
    const appOnClose = client.onWebSocketClose;
    client.onWebSocketClose = (event) => {
      this.#lost();
      appOnClose.call(client, event);
    };
    this.#subscriptions = [
      this.#resume.subscribe(YJS_DESTINATIONS.updates(docId), (message) => this.#onUpdate(message), {
        onSubscribed: (_sub, outcome) => this.#onSubscribed(outcome),
      }),
      this.#resume.subscribe(YJS_DESTINATIONS.awareness(docId), (message) => this.#onAwareness(message)),
    ];
  }

  get status(): ProviderStatus {
    return this.#status;
  }

  /** True once the document holds what the cluster has; false again while reconnecting. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Stops: tells the others this client left (awareness), unsubscribes, leaves the document to its owner. */
  override destroy(): void {
    if (this.#destroyed) return;
    removeAwarenessStates(this.awareness, [this.doc.clientID], 'destroy');
    this.#destroyed = true;
    clearTimeout(this.#announceTimer);
    this.#stateSubscription?.unsubscribe();
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.doc.off('update', this.#onDocUpdate);
    this.awareness.off('update', this.#onAwarenessUpdate);
    if (this.#owns.awareness) this.awareness.destroy();
    if (this.#owns.resume) this.#resume.close();
    super.destroy();
  }

  readonly #onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this || this.#destroyed) return;
    if (this.#status === 'connected' && this.#client.connected) this.#send(update);
    else this.#offline.push(update);
  };

  readonly #onAwarenessUpdate = (
    changes: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    if (origin === this) return;
    const mine = this.doc.clientID;
    // Only this client's own state: the others publish theirs, and remote timeouts are local news.
    if (![...changes.added, ...changes.updated, ...changes.removed].includes(mine)) return;
    this.#publishAwareness();
  };

  #onSubscribed(outcome: SubscribeOutcome): void {
    if (this.#destroyed) return;
    this.#setStatus('connected');
    const sync = ++this.#syncs;
    if (outcome.recovered === true) {
      // The stream replayed what this page missed; the cluster misses only what it did not confirm.
      const pending = [...this.#offline, ...this.#unconfirmed.values()];
      this.#offline = [];
      this.#unconfirmed.clear();
      if (pending.length > 0) this.#send(Y.mergeUpdates(pending));
      this.#setSynced(true);
    } else {
      this.#requestState(sync);
    }
    this.#publishAwareness();
  }

  /** Takes the cluster's whole state, then sends what the cluster does not have (a two-way sync). */
  #requestState(sync: number): void {
    this.#stateSubscription?.unsubscribe();
    const subscription = this.#client.subscribe(YJS_DESTINATIONS.state(this.docId), (message) => {
      subscription.unsubscribe();
      if (this.#stateSubscription === subscription) this.#stateSubscription = undefined;
      if (sync !== this.#syncs || this.#destroyed) return;
      const state = message.binaryBody;
      Y.applyUpdate(this.doc, state, this);
      // Everything the cluster lacks, deletions included: it covers what was offline or unconfirmed.
      this.#offline = [];
      this.#unconfirmed.clear();
      const missing = Y.encodeStateAsUpdate(this.doc, Y.encodeStateVectorFromUpdate(state));
      if (!isEmptyUpdate(missing)) this.#send(missing);
      this.#setSynced(true);
    });
    this.#stateSubscription = subscription;
  }

  #onUpdate(message: IMessage): void {
    if (this.#destroyed) return;
    Y.applyUpdate(this.doc, message.binaryBody, this);
  }

  #onAwareness(message: IMessage): void {
    if (this.#destroyed) return;
    const before = new Set(this.awareness.getStates().keys());
    applyAwarenessUpdate(this.awareness, message.binaryBody, this);
    // A newcomer knows no one yet: answer with this client's state.
    for (const id of this.awareness.getStates().keys()) {
      if (!before.has(id)) {
        this.#announceSoon();
        return;
      }
    }
  }

  #announceSoon(): void {
    if (this.#announceTimer !== undefined) return;
    const wait = Math.max(0, this.#lastAnnounce + ANNOUNCE_MS - Date.now());
    this.#announceTimer = setTimeout(() => {
      this.#announceTimer = undefined;
      this.#publishAwareness();
    }, wait);
  }

  #publishAwareness(): void {
    if (!this.#client.connected || this.#status !== 'connected') return;
    this.#lastAnnounce = Date.now();
    const body = encodeAwarenessUpdate(this.awareness, [this.doc.clientID]);
    this.#client.publish({
      destination: YJS_DESTINATIONS.awareness(this.docId),
      binaryBody: body,
      headers: { 'content-type': OCTETS },
    });
  }

  #send(update: Uint8Array): void {
    const receipt = `${this.#receiptPrefix}${++this.#seq}`;
    this.#unconfirmed.set(receipt, update);
    this.#client.watchForReceipt(receipt, () => this.#unconfirmed.delete(receipt));
    this.#client.publish({
      destination: YJS_DESTINATIONS.send(this.docId),
      binaryBody: update,
      headers: { 'content-type': OCTETS, receipt },
    });
  }

  #lost(): void {
    if (this.#destroyed) return;
    this.#stateSubscription = undefined;
    this.#setStatus('disconnected');
    this.#setSynced(false);
    // The others' states are kept until y-protocols' timeout: they may still be there after the reconnect.
  }

  #setStatus(status: ProviderStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.emit('status', [{ status }]);
  }

  #setSynced(synced: boolean): void {
    if (this.#synced === synced) return;
    this.#synced = synced;
    this.emit('synced', [synced]);
    this.emit('sync', [synced]);
  }
}

/** An update with no structs and no deletions (what encodeStateAsUpdate gives when nothing is missing). */
function isEmptyUpdate(update: Uint8Array): boolean {
  return update.byteLength <= 2 && update.every((b) => b === 0);
}
