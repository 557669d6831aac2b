/** The soak's faults, drawn one at a time from a seeded generator so a run can be repeated. */
export const FAULT_KINDS = [
  'rabbit-member',
  'redis-primary',
  'node-kill',
  'node-drain',
  'amqp-cut',
  // A RabbitMQ member, the Redis primary and a relay node killed in the same moment.
  'all-at-once',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A small seeded PRNG (mulberry32): uniform in [0, 1), the same sequence for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pickFault(random: () => number): FaultKind {
  return FAULT_KINDS[Math.floor(random() * FAULT_KINDS.length)]!;
}
