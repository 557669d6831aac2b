/**
 * The headers of stomp-relay's history and resume extension (docs/stomp-extensions.md). A server
 * without the extension sends none of them and ignores the SUBSCRIBE ones.
 */
export const RESUME_HEADERS = {
  /** MESSAGE and SUBSCRIBE RECEIPT: the stream's incarnation; a new value means its history was lost. */
  epoch: 'x-epoch',
  /** MESSAGE: the message's offset in its stream (decimal, +1 per message). RECEIPT: where the stream stands. */
  offset: 'x-offset',
  /** SUBSCRIBE: the epoch of the last message the client has. */
  resumeEpoch: 'x-resume-epoch',
  /** SUBSCRIBE: the offset of the last message the client has; the server replays what follows. */
  resumeOffset: 'x-resume-offset',
  /** RECEIPT of a resuming SUBSCRIBE: `true` when everything missed was replayed, `false` when nothing was. */
  recovered: 'x-recovered',
} as const;
