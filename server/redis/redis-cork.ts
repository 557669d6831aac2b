import { Cluster, type Redis } from 'ioredis';
import { releaseAtTickEnd } from '../tick-cork.js';

const corked = new WeakSet<Redis>();

/**
 * ioredis writes each command with its own write(2): a syscall, and on a machine shared with
 * Redis a wake-up of Redis per command. This corks a connection's socket at the first command of
 * an event-loop turn and uncorks it when the turn ends (server/tick-cork.ts), so the commands of
 * a turn — a reconnect storm's inbox takes and registry scripts — leave in one writev. Order,
 * replies and the offline queue are untouched: only the syscalls are fewer. A Cluster's node
 * connections each get it, as they are made.
 */
export function writeCommandsPerTurn(redis: Redis | Cluster): void {
  if (redis instanceof Cluster) {
    for (const node of redis.nodes()) corkPerTurn(node);
    redis.on('+node', corkPerTurn);
  } else corkPerTurn(redis);
}

function corkPerTurn(redis: Redis): void {
  if (corked.has(redis)) return;
  corked.add(redis);
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    // `stream` is a pipeline's: it writes its commands at once already.
    const socket = stream ? undefined : redis.stream;
    if (socket && redis.status === 'ready' && socket.writable && socket.writableCorked === 0) {
      socket.cork();
      releaseAtTickEnd({ release: () => socket.uncork() });
    }
    return send(command, stream);
  };
}
