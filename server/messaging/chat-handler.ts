import { randomUUID } from 'node:crypto';
import { invalidUserIdReason } from '../auth/authenticator.js';
import { MessageRejection, type AppRouter } from './app-router.js';
import { decodeUserName } from '../destinations/destinations.js';

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
    // A `/` in a user id travels as %2F in the destination, as in Spring.
    const from = decodeUserName(message.vars.from ?? '');
    const to = decodeUserName(message.vars.to ?? '');
    const docId = message.vars.docId ?? '';
    if (from !== message.user) {
      throw new MessageRejection(`chat "from" must be your own user id (${message.user}), not "${from}"`);
    }
    const badTo = invalidUserIdReason(to);
    if (badTo) throw new MessageRejection(`chat "to" is not a valid user id: ${badTo}`);
    const admitted = message.principal.docs;
    if (admitted !== undefined && !admitted.includes(docId)) {
      throw new MessageRejection(`you are not admitted to document ${docId}`);
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
