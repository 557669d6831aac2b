import type { HeaderList } from '../../protocol/index.js';
import { RelayError } from '../errors.js';
import type { UserId } from '../ids.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { withPosition, type RelayMessage } from '../relay/relay-message.js';
import type { History, StreamPosition } from './history.js';
import type { HistoryStreams } from './streams.js';
import { SubscriptionStream, type StreamCopy, type StreamStart } from './subscription-stream.js';

/** The SUBSCRIBE headers of a resume (SPEC §11). */
const RESUME_EPOCH = 'x-resume-epoch';
const RESUME_OFFSET = 'x-resume-offset';

/**
 * A node's side of the history extension (SPEC §11): gives an accepted message its position in
 * its stream, and opens a subscription's stream. Built only when HISTORY_DESTINATIONS names
 * something, so a node without history pays nothing on its hot path.
 */
export class NodeHistory {
  constructor(
    private readonly streams: HistoryStreams,
    private readonly history: History,
    /** HISTORY_SIZE: copies a subscription holds past a gap at most (a fill cannot bring back more). */
    private readonly size: number,
    private readonly metrics: Metrics,
    private readonly log?: Logger,
  ) {}

  /**
   * The message with its position, once appended to its stream; undefined when it belongs to no
   * stream (nothing to wait for). Appends of one node keep their order, so routing after each
   * resolves keeps a sender's order too.
   */
  stamp(msg: RelayMessage): Promise<RelayMessage> | undefined {
    const stream = this.streams.ofMessage(msg);
    if (stream === undefined) return undefined;
    return this.history.append(stream, msg).then((position) => withPosition(msg, position));
  }

  /**
   * The stream side of a new subscription, or undefined when its destination keeps no history.
   * `write` puts one message on the subscription with the position its MESSAGE carries.
   */
  open(
    destination: string,
    user: UserId,
    write: (msg: RelayMessage, position: StreamPosition | undefined) => void,
    offline?: () => Promise<readonly StreamCopy[]>,
  ): SubscriptionStream | undefined {
    const stream = this.streams.ofSubscription(destination, user);
    if (stream === undefined) return undefined;
    const { metrics, log } = this;
    return new SubscriptionStream({
      history: this.history,
      stream,
      write,
      maxHeld: this.size,
      ...(offline ? { offline } : {}),
      events: {
        resumed: (recovered) => metrics.historyResumes.inc({ recovered: String(recovered) }),
        dropped: (reason) => metrics.historyDropped.inc({ reason }),
        gapFilled: () => metrics.historyGapFills.inc(),
        skipped: (count) => {
          metrics.historySkipped.inc(count);
          // Messages this subscriber will never get: an operator wants to see it (SPEC §11).
          log?.warn({ stream, user, count }, 'a subscription gave up offsets the history no longer had');
        },
        gapFillFailed: (err, givenUp) =>
          log?.warn(
            { stream, user, givenUp, err: err instanceof Error ? err.message : String(err) },
            givenUp ? 'history gap fill kept failing; gave the gap up' : 'history gap fill failed; trying again',
          ),
      },
    });
  }

  close(): Promise<void> {
    return this.history.close();
  }
}

/** `x-resume-epoch` and `x-resume-offset` of a SUBSCRIBE: both or neither; a bad offset is the client's error. */
export function resumePosition(headers: HeaderList): StreamPosition | undefined {
  let epoch: string | undefined;
  let offset: string | undefined;
  for (const [name, value] of headers) {
    if (name === RESUME_EPOCH && epoch === undefined) epoch = value;
    else if (name === RESUME_OFFSET && offset === undefined) offset = value;
  }
  if (epoch === undefined && offset === undefined) return undefined;
  if (epoch === undefined || offset === undefined) {
    throw new RelayError('INVALID_HEADER', `a resuming SUBSCRIBE needs both '${RESUME_EPOCH}' and '${RESUME_OFFSET}'`);
  }
  if (!/^\d{1,15}$/.test(offset))
    throw new RelayError('INVALID_HEADER', `'${RESUME_OFFSET}' must be a decimal offset, not '${offset.slice(0, 40)}'`);
  return { epoch, offset: Number(offset) };
}

/** What the RECEIPT of a SUBSCRIBE to a stream carries: where it stands, and for a resume whether it recovered. */
export function streamReceiptHeaders(start: StreamStart): HeaderList {
  const headers: [string, string][] = [
    ['x-epoch', start.position.epoch],
    ['x-offset', String(start.position.offset)],
  ];
  if (start.recovered !== undefined) headers.push(['x-recovered', String(start.recovered)]);
  return headers;
}
