import { StompProtocolError } from '../protocol/index.js';

/**
 * The catalogue of errors the node turns into an ERROR frame plus close code, or into an HTTP
 * error body. Each entry is documented in README ("Close codes" and "Error codes"); a test checks it.
 */
export const CloseCode = {
  /** After an ERROR frame for a protocol error, as Spring does. Reconnecting will fail the same way. */
  PROTOCOL_ERROR: 1002,
  /** Authentication or policy refused (bad token, forbidden destination, rate or connection limit). */
  POLICY: 1008,
  /** An internal failure of the node; reconnecting is fine. */
  INTERNAL: 1011,
  /** Graceful drain of the node: reconnect, the balancer picks another node. */
  SERVICE_RESTART: 1012,
  /** The node is too busy to take the session now (a CONNECT flood): reconnect after a pause. */
  TRY_AGAIN_LATER: 1013,
  /** The session could not keep up with its messages (outbound buffer over the limit), as Spring's 4500. */
  SLOW_CONSUMER: 4500,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

interface ErrorSpec {
  readonly closeCode?: CloseCode;
  readonly httpStatus?: number;
}

export const ERRORS = {
  STOMP_PROTOCOL: { closeCode: CloseCode.PROTOCOL_ERROR },
  NOT_CONNECTED: { closeCode: CloseCode.PROTOCOL_ERROR },
  SESSION_EXISTS: { closeCode: CloseCode.PROTOCOL_ERROR },
  UNSUPPORTED_VERSION: { closeCode: CloseCode.PROTOCOL_ERROR },
  SESSION_CLOSED: { closeCode: CloseCode.PROTOCOL_ERROR },
  HEARTBEAT_TIMEOUT: { closeCode: CloseCode.PROTOCOL_ERROR },
  CONNECT_TIMEOUT: { closeCode: CloseCode.PROTOCOL_ERROR },
  UNKNOWN_TRANSACTION: { closeCode: CloseCode.PROTOCOL_ERROR },
  INVALID_DESTINATION: { closeCode: CloseCode.PROTOCOL_ERROR },
  MISSING_HEADER: { closeCode: CloseCode.PROTOCOL_ERROR },
  INVALID_HEADER: { closeCode: CloseCode.PROTOCOL_ERROR },
  AUTH_FAILED: { closeCode: CloseCode.POLICY, httpStatus: 401 },
  FORBIDDEN: { closeCode: CloseCode.POLICY, httpStatus: 403 },
  RATE_LIMITED: { closeCode: CloseCode.POLICY, httpStatus: 429 },
  TOO_MANY_SUBSCRIPTIONS: { closeCode: CloseCode.POLICY },
  TOO_MANY_UNACKED: { closeCode: CloseCode.POLICY },
  TOO_MANY_CONNECTIONS: { closeCode: CloseCode.POLICY, httpStatus: 503 },
  BUSY: { closeCode: CloseCode.TRY_AGAIN_LATER, httpStatus: 503 },
  TRANSACTION_TOO_LARGE: { closeCode: CloseCode.POLICY },
  SLOW_CONSUMER: { closeCode: CloseCode.SLOW_CONSUMER },
  NOT_ACCEPTED: { closeCode: CloseCode.INTERNAL, httpStatus: 503 },
  SUBSCRIBE_FAILED: { closeCode: CloseCode.INTERNAL },
  INTERNAL: { closeCode: CloseCode.INTERNAL, httpStatus: 500 },
  SHUTTING_DOWN: { closeCode: CloseCode.SERVICE_RESTART, httpStatus: 503 },
  BAD_JSON: { httpStatus: 400 },
  BAD_REQUEST: { httpStatus: 400 },
  UNAUTHORIZED: { httpStatus: 401 },
  NOT_FOUND: { httpStatus: 404 },
  METHOD_NOT_ALLOWED: { httpStatus: 405 },
  BODY_TOO_LARGE: { httpStatus: 413 },
  UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415 },
} as const satisfies Record<string, ErrorSpec>;
export type ErrorCode = keyof typeof ERRORS;

/** An error the node reports to a client. `expose`: the message may be shown to the client. */
export class RelayError extends Error {
  override readonly name = 'RelayError';
  readonly closeCode: CloseCode;
  readonly httpStatus: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly expose = true,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    const spec: ErrorSpec = ERRORS[code];
    this.closeCode = spec.closeCode ?? CloseCode.INTERNAL;
    this.httpStatus = spec.httpStatus ?? 500;
  }
}

/** Any error as the catalogue's: a protocol error as STOMP_PROTOCOL, anything unknown as INTERNAL. */
export function toRelayError(err: unknown): RelayError {
  if (err instanceof RelayError) return err;
  if (err instanceof StompProtocolError) return new RelayError('STOMP_PROTOCOL', err.message);
  return new RelayError('INTERNAL', 'internal error', false, { cause: err });
}
