/** Codes of everything the decoder and negotiation can reject. The message becomes the ERROR frame's `message`. */
export const StompErrorCode = {
  FRAME_TOO_LARGE: 'STOMP_ERR_FRAME_TOO_LARGE',
  TOO_MANY_HEADERS: 'STOMP_ERR_TOO_MANY_HEADERS',
  HEADER_LINE_TOO_LONG: 'STOMP_ERR_HEADER_LINE_TOO_LONG',
  BAD_HEADER: 'STOMP_ERR_BAD_HEADER',
  BAD_ESCAPE: 'STOMP_ERR_BAD_ESCAPE',
  BAD_EOL: 'STOMP_ERR_BAD_EOL',
  BAD_CONTENT_LENGTH: 'STOMP_ERR_BAD_CONTENT_LENGTH',
  MISSING_NUL: 'STOMP_ERR_MISSING_NUL',
  UNKNOWN_COMMAND: 'STOMP_ERR_UNKNOWN_COMMAND',
  MISSING_HEADER: 'STOMP_ERR_MISSING_HEADER',
  UNEXPECTED_BODY: 'STOMP_ERR_UNEXPECTED_BODY',
  UNSUPPORTED_VERSION: 'STOMP_ERR_UNSUPPORTED_VERSION',
  BAD_HEARTBEAT: 'STOMP_ERR_BAD_HEARTBEAT',
} as const;
export type StompErrorCode = (typeof StompErrorCode)[keyof typeof StompErrorCode];

/** A violation of the STOMP protocol by the peer. The only error type protocol/ throws for bad input (bad DecoderLimits are a RangeError). */
export class StompProtocolError extends Error {
  override readonly name = 'StompProtocolError';
  constructor(
    readonly code: StompErrorCode,
    message: string,
  ) {
    super(message);
  }
}
