import { readFileSync } from 'node:fs';

/** Descriptors a node keeps for itself beside its sessions: Redis, RabbitMQ, HTTP API clients, files. */
export const RESERVED_DESCRIPTORS = 100;
/** MAX_CONNECTIONS=auto where the open-file limit cannot be read (not Linux). */
export const FALLBACK_MAX_CONNECTIONS = 20_000;

/**
 * The soft limit on open files of this process (RLIMIT_NOFILE), read from /proc/self/limits;
 * undefined where there is no such file or it says "unlimited". Node has no API for getrlimit.
 */
export function openFileLimit(
  read: () => string = () => readFileSync('/proc/self/limits', 'utf8'),
): number | undefined {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
}

/** MAX_CONNECTIONS=auto: what the descriptor limit leaves once the node's own are set aside. */
export function autoMaxConnections(limit: number | undefined): number {
  return limit === undefined ? FALLBACK_MAX_CONNECTIONS : Math.max(1, limit - RESERVED_DESCRIPTORS);
}
