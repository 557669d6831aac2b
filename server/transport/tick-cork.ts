/** Something holding writes back (a corked socket) until `release`. */
export interface Held {
  release(): void;
}

const held: Held[] = [];
let releaseQueued = false;

/**
 * Releases `h` once the current turn of the event loop is over (process.nextTick: after the
 * callback that is running, before any I/O). A socket corked until then sends a burst of frames —
 * a chunk of SENDs fanned out, a batch of deliveries from RabbitMQ — with one `writev` instead of
 * one syscall per frame. The caller holds each socket at most once per turn.
 */
export function releaseAtTickEnd(h: Held): void {
  held.push(h);
  if (!releaseQueued) {
    releaseQueued = true;
    process.nextTick(releaseAll);
  }
}

function releaseAll(): void {
  releaseQueued = false;
  // A release may write and hold again: that one goes in the next round.
  const now = held.splice(0);
  for (const h of now) {
    try {
      h.release();
    } catch {
      // one broken socket must not leave the others held
    }
  }
}
