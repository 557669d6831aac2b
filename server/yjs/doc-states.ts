import * as Y from 'yjs';
import type { DocId } from '../ids.js';

/** How much of a document the cluster keeps (YJS_MAX_DOC_BYTES, YJS_DOC_TTL_MS). */
export interface DocStateLimits {
  /** Bytes of stored updates per document; an update that would pass it is refused. */
  readonly maxBytes: number;
  /** A document no one has written to for this long is forgotten. */
  readonly ttlMs: number;
}

/** Updates appended since the last merge before a document's log is merged into one update. */
export const COMPACT_AFTER = 64;

/**
 * Where the cluster keeps each collaborative document's Yjs state (SPEC §12): every update a
 * client sends is appended; a newcomer gets the merge of them. In memory (embedded) or in Redis
 * (cluster), so a page syncs from any node even when no other editor is online.
 */
export interface DocStates {
  /** Appends a valid Yjs update (see {@link checkUpdate}); rejects with {@link DocTooLarge} past the limit. */
  apply(doc: DocId, update: Uint8Array): Promise<void>;
  /** The document's whole state as one Yjs update (an empty document: an empty update). */
  state(doc: DocId): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** The update would take the document past YJS_MAX_DOC_BYTES. */
export class DocTooLarge extends Error {
  override readonly name = 'DocTooLarge';
  constructor(doc: DocId, maxBytes: number) {
    super(`document ${JSON.stringify(doc.slice(0, 64))} would pass YJS_MAX_DOC_BYTES (${maxBytes} bytes)`);
  }
}

/**
 * Refuses a body that is not a Yjs (v1) update, before it is stored: one bad update in the log
 * would make every later merge of the document throw.
 */
export function checkUpdate(update: Uint8Array): string | undefined {
  if (update.byteLength === 0) return 'an empty body is not a Yjs update';
  try {
    // Reads every struct and the delete set, as a later merge of the document will.
    Y.decodeUpdate(update);
    return undefined;
  } catch {
    return 'the body is not a Yjs update (encodeStateAsUpdate / the update event, format v1)';
  }
}

/** The merge of a document's updates as one update (an empty document's update when there are none). */
export function mergeAll(updates: readonly Uint8Array[]): Uint8Array {
  if (updates.length === 1) return updates[0]!;
  return updates.length === 0 ? EMPTY_UPDATE : Y.mergeUpdates([...updates]);
}

const EMPTY_UPDATE: Uint8Array = Y.encodeStateAsUpdate(new Y.Doc());
