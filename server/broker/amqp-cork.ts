import type { ChannelModel } from 'amqplib';

/** The parts of amqplib's (internal) frame muxer this reaches into. */
interface Muxer {
  _readIncoming?: () => void;
  out?: { cork?: () => void; uncork?: () => void };
}

/**
 * amqplib's muxer writes each frame with its own write(2): a syscall, and on a machine shared
 * with RabbitMQ a wake-up of it per frame (publishes, acks, bindings). One round of the muxer —
 * every frame the channels buffered since the last round, a setImmediate apart — goes out in one
 * writev when the socket is corked around it. amqplib has no option for it, so this wraps its
 * internal round; when the internals are not the expected shape it changes nothing and returns
 * false (a test fails then, so an upgrade cannot drop it silently).
 */
export function writeFramesPerRound(model: ChannelModel): boolean {
  const muxer = (model.connection as unknown as { muxer?: Muxer }).muxer;
  const round = muxer?._readIncoming;
  const out = muxer?.out;
  if (!muxer || typeof round !== 'function' || typeof out?.cork !== 'function' || typeof out.uncork !== 'function')
    return false;
  const socket = out as Required<Muxer>['out'] & { cork(): void; uncork(): void };
  muxer._readIncoming = function (this: Muxer) {
    socket.cork();
    try {
      round.call(this);
    } finally {
      socket.uncork();
    }
  };
  return true;
}
