import type { SessionId, UserId } from '../ids.js';
import { encodeUserName, isBrokerDestination, parseSendDestination } from '../destinations/destinations.js';
import { toBody, type Payload } from './payload.js';
import type { MessageRouter, RouteResult } from '../relay/router.js';

export type HeaderMap = Readonly<Record<string, string | number | boolean>>;

function headerList(contentType: string, headers: HeaderMap | undefined): [string, string][] {
  const list: [string, string][] = [['content-type', contentType]];
  if (headers) {
    for (const [name, value] of Object.entries(headers)) {
      if (name === 'content-type') list[0] = [name, String(value)];
      else list.push([name, String(value)]);
    }
  }
  return list;
}

/** Spring's SimpMessagingTemplate for handlers and the HTTP API. Resolving means accepted. */
export class MessagingTemplate {
  constructor(private readonly router: MessageRouter) {}

  /** To a broker destination (`/topic/...`, `/queue/...`), or a `/user/{name}/...` destination. */
  async convertAndSend(destination: string, payload: Payload, headers?: HeaderMap): Promise<void> {
    const target = parseSendDestination(destination);
    if (target.kind === 'user') {
      await this.convertAndSendToUser(target.user, target.destination, payload, headers);
      return;
    }
    if (!isBrokerDestination(destination)) throw new Error(`not a broker destination: ${destination}`);
    const { body, contentType } = toBody(payload);
    await this.router.broadcast({ destination, headers: headerList(contentType, headers), body });
  }

  /**
   * Every session of `user` subscribed to `/user` + `destination` (e.g. `/42/queue/chat`), on any
   * node; with `sessionId`, only that session. Stored for the user when it has no live session.
   */
  async convertAndSendToUser(
    user: UserId,
    destination: string,
    payload: Payload,
    headers?: HeaderMap,
    options: { sessionId?: SessionId; id?: string } = {},
  ): Promise<RouteResult> {
    if (user.includes('%2F')) throw new Error('a user name may not contain %2F'); // as Spring (gh-23836)
    const dest = destination.startsWith('/') ? destination : `/${destination}`;
    const { body, contentType } = toBody(payload);
    return this.router.sendToUser(
      user,
      { destination: dest, headers: headerList(contentType, headers), body, ...(options.id ? { id: options.id } : {}) },
      options.sessionId,
    );
  }

  /** The `/user/...` destination a client would SEND to for `user` (Spring's encoding of `/`). */
  static userDestination(user: UserId, destination: string): string {
    return `/user/${encodeUserName(user)}${destination.startsWith('/') ? '' : '/'}${destination}`;
  }
}
