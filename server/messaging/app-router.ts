import type { HeaderList } from '../../protocol/index.js';
import type { Principal } from '../auth/authenticator.js';
import type { SessionId, UserId } from '../ids.js';
import { compilePathPattern, type PathMatcher } from './path-pattern.js';
import type { Payload } from './payload.js';
import type { MessagingTemplate, HeaderMap } from './template.js';

/** A SEND (or SUBSCRIBE) to `/app/**` as a handler sees it. */
export interface InboundMessage {
  /** The whole destination, `/app/chat/A/B/42`. */
  readonly destination: string;
  /** Without the `/app` prefix, `/chat/A/B/42` (Spring's lookup path). */
  readonly path: string;
  /** Template variables (`@DestinationVariable`). */
  readonly vars: Readonly<Record<string, string>>;
  readonly headers: HeaderList;
  readonly body: Buffer;
  /** The authenticated principal's name (the user id) of the sending session. */
  readonly user: UserId;
  /** The whole principal: e.g. `docs`, the documents a JWT admits it to (absent: all). */
  readonly principal: Principal;
  readonly sessionId: SessionId;
}

export interface HandlerContext {
  readonly message: InboundMessage;
  readonly template: MessagingTemplate;
  /** Spring's `@SendToUser(destination)`: to every session of the sender subscribed to `/user` + destination. */
  readonly sendToUser: (destination: string, payload: Payload, headers?: HeaderMap) => Promise<void>;
}

/**
 * A `@MessageMapping` handler. A returned payload goes to `/topic` + the lookup path, as Spring's
 * default `@SendTo`. Throwing `MessageRejection` answers the sender on `/user/queue/errors` with
 * its message; any other error answers there with a generic text and is logged.
 */
export type MessageHandler = (ctx: HandlerContext) => Payload | undefined | void | Promise<Payload | undefined | void>;

/** A `@SubscribeMapping` handler: its payload is one MESSAGE to the subscribing session only. */
export type SubscribeHandler = (ctx: HandlerContext) => Payload | Promise<Payload>;

/** A handler's refusal that the sender is told about, on `/user/queue/errors`. */
export class MessageRejection extends Error {
  override readonly name = 'MessageRejection';
}

interface Route<H> {
  readonly pattern: string;
  readonly match: PathMatcher;
  readonly handler: H;
}

/** `/app/**` routes, registered as Spring's `@MessageMapping` / `@SubscribeMapping`. First match wins. */
export class AppRouter {
  private readonly messageRoutes: Route<MessageHandler>[] = [];
  private readonly subscribeRoutes: Route<SubscribeHandler>[] = [];

  onMessage(pattern: string, handler: MessageHandler): this {
    this.messageRoutes.push({ pattern, match: compilePathPattern(pattern), handler });
    return this;
  }

  onSubscribe(pattern: string, handler: SubscribeHandler): this {
    this.subscribeRoutes.push({ pattern, match: compilePathPattern(pattern), handler });
    return this;
  }

  findMessage(path: string): { handler: MessageHandler; vars: Record<string, string> } | undefined {
    return find(this.messageRoutes, path);
  }

  findSubscribe(path: string): { handler: SubscribeHandler; vars: Record<string, string> } | undefined {
    return find(this.subscribeRoutes, path);
  }
}

function find<H>(routes: readonly Route<H>[], path: string): { handler: H; vars: Record<string, string> } | undefined {
  for (const route of routes) {
    const vars = route.match(path);
    if (vars) return { handler: route.handler, vars };
  }
  return undefined;
}
