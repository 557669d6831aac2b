import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { MessagingTemplate } from '../messaging/template.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { RelayPressure } from '../relay/relay-pressure.js';

/** What the HTTP side needs of the node; shared by the app and its routes. */
export interface HttpDeps {
  readonly config: Config;
  readonly template: MessagingTemplate;
  readonly registry: Registry;
  readonly metrics: Metrics;
  readonly isReady: () => boolean;
  readonly log: Logger;
  /** Flow control of the node hop: a push waits (body unread) while it is closed. */
  readonly pressure?: RelayPressure;
}
