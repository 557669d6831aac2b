import type { Frame } from '../../protocol/index.js';
import { MessageRejection, type HandlerContext, type InboundMessage } from './app-router.js';
import { travelsBinary, type MessagingDeps, type SessionLink } from './messaging-deps.js';
import { toBody, type Payload } from './payload.js';

type Deps = Pick<MessagingDeps, 'app' | 'template' | 'log'>;

/**
 * A SEND to `/app/...`: the @MessageMapping handler of its path runs; a value it returns goes to
 * `/topic` + the path (Spring's default @SendTo). A missing handler or a rejection is told to the
 * sender on `/user/queue/errors`.
 */
export async function runMessageHandler(
  deps: Deps,
  link: SessionLink,
  destination: string,
  path: string,
  frame: Frame,
): Promise<void> {
  const found = deps.app.findMessage(path);
  if (!found) {
    await replyError(deps, link, destination, `no handler for ${destination}`);
    return;
  }
  try {
    const result = await found.handler(context(deps, link, destination, path, found.vars, frame));
    if (result !== undefined) await deps.template.convertAndSend(`/topic${path}`, result);
  } catch (err) {
    if (!(err instanceof MessageRejection)) deps.log.error({ err, destination }, 'handler failed');
    await replyError(deps, link, destination, err instanceof MessageRejection ? err.message : 'the handler failed');
  }
}

/** A SUBSCRIBE to `/app/...` (@SubscribeMapping): one MESSAGE to this session, addressed to the /app destination. */
export async function runSubscribeHandler(
  deps: Deps,
  link: SessionLink,
  id: string,
  destination: string,
  path: string,
  frame: Frame,
): Promise<void> {
  const found = deps.app.findSubscribe(path);
  if (!found) return;
  let payload: Payload;
  try {
    payload = await found.handler(context(deps, link, destination, path, found.vars, frame));
  } catch (err) {
    if (!(err instanceof MessageRejection)) deps.log.error({ err, destination }, 'subscribe handler failed');
    await replyError(deps, link, destination, err instanceof MessageRejection ? err.message : 'the handler failed');
    return;
  }
  const { body, contentType } = toBody(payload);
  const reply: Frame = {
    command: 'MESSAGE',
    headers: [
      ['destination', destination],
      ['subscription', id],
      ['message-id', `${link.id}-app-${id}`],
      ['content-type', contentType],
      ['content-length', String(body.length)],
    ],
    body,
  };
  link.write(reply, travelsBinary(contentType, body));
}

function context(
  deps: Deps,
  link: SessionLink,
  destination: string,
  path: string,
  vars: Record<string, string>,
  frame: Frame,
): HandlerContext {
  const message: InboundMessage = {
    destination,
    path,
    vars,
    headers: frame.headers,
    body: frame.body,
    user: link.user,
    principal: link.principal,
    sessionId: link.id,
  };
  return {
    message,
    template: deps.template,
    sendToUser: async (dest, payload, headers) => {
      await deps.template.convertAndSendToUser(link.user, dest, payload, headers);
    },
  };
}

/** Spring's @MessageExceptionHandler + @SendToUser("/queue/errors") habit, to this session only. */
async function replyError(deps: Deps, link: SessionLink, destination: string, message: string): Promise<void> {
  await deps.template.convertAndSendToUser(link.user, '/queue/errors', { error: message, destination }, undefined, {
    sessionId: link.id,
  });
}
