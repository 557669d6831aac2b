import { randomUUID } from 'node:crypto';
import { MessageRejection, type AppRouter } from './app-router.js';

/** The chat message the recipient receives on `/user/{docId}/queue/chat` (SPEC §4). */
export interface ChatMessage {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly docId: string;
  readonly content: string;
  readonly sentAt: string;
}

/**
 * The blog-editor seed's handler: `SEND /app/chat/{from}/{to}/{docId}`, body = the text.
 * `from` must be the sender itself; the message goes to `to` wherever it is connected.
 */
export function registerChatHandler(router: AppRouter): void {
  router.onMessage('/chat/{from}/{to}/{docId}', async ({ message, template }) => {
    const { from = '', to = '', docId = '' } = message.vars;
    if (from !== message.user) {
      throw new MessageRejection(`chat "from" must be your own user id (${message.user}), not "${from}"`);
    }
    const chat: ChatMessage = {
      id: randomUUID(),
      from,
      to,
      docId,
      content: message.body.toString('utf8'),
      sentAt: new Date().toISOString(),
    };
    await template.convertAndSendToUser(to, `/${docId}/queue/chat`, { ...chat });
  });
}
