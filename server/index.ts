// The library: `import { createNode, loadConfig } from 'stomp-relay'` (SPEC §12). Only what an
// application that embeds a node needs; the implementations stay behind createNode.
export { createNode, type NodeDeps, type RelayNode } from './node.js';
export { ConfigError, DEFAULTS, loadConfig, type AuthMode, type Config, type Limits, type LogLevel } from './config.js';
export { CONFIG_VARS, configVariables, type ConfigVariable, type ConfigVarName } from './config-vars.js';
export { createLogger, type Logger } from './log.js';
export {
  AppRouter,
  MessageRejection,
  type HandlerContext,
  type InboundMessage,
  type MessageHandler,
  type SubscribeHandler,
} from './messaging/app-router.js';
export { MessagingTemplate, type HeaderMap } from './messaging/template.js';
export type { Payload } from './messaging/payload.js';
export type { RouteResult } from './relay/router.js';
export type { Authenticator, ConnectRequest, Principal } from './auth/authenticator.js';
export type { Decision, DestinationPolicy, PolicyAction } from './auth/policy.js';
export type { Broker } from './broker/broker.js';
export type { PresenceEntry, Registry } from './registry/registry.js';
export type { OfflineStore } from './store/offline-store.js';
export type { Metrics } from './metrics.js';
export { CloseCode, ERRORS, RelayError, type ErrorCode } from './errors.js';
export type { Destination, DocId, NodeId, SessionId, UserId } from './ids.js';
