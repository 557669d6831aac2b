export { CLIENT_COMMANDS, SERVER_COMMANDS, EMPTY_BODY, header } from './frame.js';
export type { ClientCommand, ServerCommand, Command, StompVersion, HeaderList, Frame } from './frame.js';
export { StompErrorCode, StompProtocolError } from './errors.js';
export { escapeHeader, unescapeHeader, commandEscapesHeaders } from './escape.js';
export { FrameDecoder, DEFAULT_DECODER_LIMITS, isOnlyHeartbeats } from './decoder.js';
export type { DecodeEvent, DecoderLimits } from './decoder.js';
export { encodeFrame, encodeHead, encodeTail, HEARTBEAT_EOL } from './encoder.js';
export {
  SUPPORTED_VERSIONS,
  SUPPORTED_VERSIONS_HEADER,
  STOMP_SUBPROTOCOLS,
  MAX_HEARTBEAT_MS,
  negotiateVersion,
  parseHeartbeat,
  negotiateHeartbeat,
  subprotocolVersion,
} from './negotiate.js';
export type { StompSubprotocol, HeartbeatPlan } from './negotiate.js';
