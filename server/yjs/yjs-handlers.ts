import { MessageRejection, type AppRouter, type InboundMessage } from '../messaging/app-router.js';
import { checkUpdate, DocTooLarge, type DocStates } from './doc-states.js';

/**
 * The destinations of a collaborative document (SPEC §12). The topics are document areas, so the
 * document admission rules of SPEC §7 apply to them as to presence and chat.
 */
export const YJS_DESTINATIONS = {
  /** SEND a Yjs update (binary body): applied to the kept state, then broadcast on `updates`. */
  send: (doc: string) => `/app/docs/${doc}/yjs`,
  /** SUBSCRIBE: one MESSAGE with the document's whole state as one Yjs update. */
  state: (doc: string) => `/app/docs/${doc}/yjs/state`,
  /** Every update applied, as sent (binary). */
  updates: (doc: string) => `/topic/docs/${doc}/yjs`,
  /** y-protocols awareness updates; relayed, not kept. */
  awareness: (doc: string) => `/topic/docs/${doc}/awareness`,
} as const;

/** Registers the document handlers: updates are kept by `states` and broadcast. */
export function registerYjsHandlers(router: AppRouter, states: DocStates): void {
  router.onMessage('/docs/{docId}/yjs', async ({ message, template }) => {
    const doc = admittedDoc(message);
    const reason = checkUpdate(message.body);
    if (reason) throw new MessageRejection(reason);
    try {
      await states.apply(doc, message.body);
    } catch (err) {
      if (err instanceof DocTooLarge) throw new MessageRejection(err.message);
      throw err;
    }
    await template.convertAndSend(YJS_DESTINATIONS.updates(doc), message.body);
  });
  router.onSubscribe('/docs/{docId}/yjs/state', async ({ message }) => states.state(admittedDoc(message)));
}

function admittedDoc(message: InboundMessage): string {
  const doc = message.vars.docId ?? '';
  const admitted = message.principal.docs;
  if (admitted !== undefined && !admitted.includes(doc))
    throw new MessageRejection(`you are not admitted to document ${doc}`);
  return doc;
}
