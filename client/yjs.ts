export { StompYjsProvider, YJS_DESTINATIONS } from './yjs-provider.js';
export type { ProviderStatus, StompYjsProviderOptions } from './yjs-provider.js';
