import { isUtf8 } from 'node:buffer';
import type { Frame, HeaderList, StompVersion } from '../../protocol/index.js';
import type { Principal } from '../auth/authenticator.js';
import type { DestinationPolicy } from '../auth/policy.js';
import type { Broker } from '../broker/broker.js';
import type { Limits } from '../config.js';
import type { RelayError } from '../errors.js';
import type { NodeHistory } from '../history/node-history.js';
import type { NodeId, SessionId, UserId } from '../ids.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { MessageRouter } from '../relay/router.js';
import type { OfflineStore } from '../store/offline-store.js';
import type { AppRouter } from './app-router.js';
import type { BrokerBindings } from './bindings.js';
import type { LocalSubscriptions } from './subscriptions.js';
import type { PresenceNotices } from './presence-notices.js';
import type { MessagingTemplate } from './template.js';

// What the messaging rooms share: the session's link to its transport, the node's parts, and the
// MESSAGE encoding decisions. Here, not in messaging.ts, so the rooms never import the class that
// builds them.

/** The end of a MESSAGE frame, encoded once (protocol `encodeTail`) for the session's escaping rules. */
export interface MessageTail {
  readonly bytes: Buffer;
  /** Send it as a binary WebSocket message (see `travelsBinary`). */
  readonly binary: boolean;
}

/**
 * Whether a MESSAGE with this body goes as a binary WebSocket message: an octet-stream body, as
 * Spring does, and any body that is not valid UTF-8 whatever its headers, since a browser (or
 * `ws`) fails the whole connection on a text message that is not UTF-8 (RFC 6455 §8.1).
 * Decided once per message, not per subscriber (isUtf8 is a SIMD scan).
 */
export function travelsBinary(contentType: string | undefined, body: Buffer): boolean {
  if (body.length === 0) return false;
  if (contentType !== undefined && contentType.toLowerCase().startsWith('application/octet-stream')) return true;
  return !isUtf8(body);
}

/** What the messaging layer needs from the transport of one session. */
export interface SessionLink {
  readonly id: SessionId;
  readonly user: UserId;
  /** Who authenticated the session; the destination policy decides on it. */
  readonly principal: Principal;
  readonly version: StompVersion;
  /**
   * Writes a frame: true once it is queued on the socket, false when the session is closed.
   * `binary`: as a binary WebSocket message (a MESSAGE whose body `travelsBinary`); default text.
   */
  write(frame: Frame, binary?: boolean): boolean;
  /** Writes a MESSAGE: its own first `headers`, then `tail` (shared by every subscriber of the message). */
  writeMessage(headers: HeaderList, tail: MessageTail): boolean;
  /** Ends the session with an ERROR frame and the error's close code. */
  fail(error: RelayError, receipt?: string): void;
}

export interface MessagingDeps {
  readonly nodeId: NodeId;
  readonly broker: Broker;
  readonly registry: Registry;
  readonly store: OfflineStore;
  readonly router: MessageRouter;
  readonly template: MessagingTemplate;
  /** Document presence changes, announced coalesced per document. */
  readonly presence: PresenceNotices;
  readonly app: AppRouter;
  readonly subscriptions: LocalSubscriptions;
  readonly bindings: BrokerBindings;
  /** Who may SEND to and SUBSCRIBE to what; asked before either takes effect. */
  readonly policy: DestinationPolicy;
  readonly limits: Limits;
  /** Set when HISTORY_DESTINATIONS names streams (SPEC §11). */
  readonly history?: NodeHistory;
  readonly metrics: Metrics;
  readonly log: Logger;
}
