import type { HeaderList } from '../../protocol/index.js';
import type { DocId, SessionId, UserId } from '../ids.js';

/** What a CONNECT offers for authentication. */
export interface ConnectRequest {
  /** The CONNECT frame's headers (`login`, `passcode`, `Authorization`, ...). */
  readonly headers: HeaderList;
  /** Query parameters of the WebSocket URL (`access_token`). */
  readonly query: URLSearchParams;
  readonly sessionId: SessionId;
}

export interface Principal {
  /** The user id: `/user` destinations, the registry and `user-name` use it. */
  readonly name: UserId;
  /** No credentials given (dev mode only): the session id stands in for the name, as in Spring. */
  readonly anonymous: boolean;
  /** Epoch ms when the credentials expire; the session ends with an ERROR then. */
  readonly expiresAt?: number;
  /**
   * The documents this principal may join (the JWT `docs` claim); the destination policy refuses
   * other documents' destinations. Absent: every document (dev mode, or a token without the claim).
   */
  readonly docs?: readonly DocId[];
}

/**
 * Turns CONNECT credentials into a principal. Two forms: DevAuthenticator (the CONNECT `login`
 * header, the embedded default) and JwtAuthenticator. Rejects with RelayError `AUTH_FAILED`,
 * whose message the client sees in the ERROR frame.
 */
export interface Authenticator {
  authenticate(request: ConnectRequest): Promise<Principal>;
}

const MAX_USER_ID = 128;

/** A user id that can be a Redis key part and a `/user/{name}` segment safely; the reason if not. */
export function invalidUserIdReason(id: string): string | undefined {
  if (id.length === 0) return 'user id is empty';
  if (id.length > MAX_USER_ID) return `user id longer than ${MAX_USER_ID} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(id)) return 'user id contains control characters';
  if (id.includes('%2F') || id.includes('%2f')) return 'user id may not contain %2F';
  return undefined;
}
