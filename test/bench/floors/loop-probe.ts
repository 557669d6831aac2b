/**
 * Preloaded (`--import`) into a bench server, product node or floor alike: the event-loop delay
 * over a span the bench chooses, not over prom-client's scrape windows. On SIGUSR2 it writes the
 * delay since the last SIGUSR2 (or its start) to `LOOP_PROBE_DIR/loop-<pid>.json` and starts
 * afresh. Measured as prom-client measures a node's (a 10 ms-resolution histogram).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const dir = process.env.LOOP_PROBE_DIR;
if (dir) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  process.on('SIGUSR2', () => {
    const ms = (ns: number) => ns / 1e6;
    const stats = {
      samples: delay.count,
      p50Ms: ms(delay.percentile(50)),
      p99Ms: ms(delay.percentile(99)),
      maxMs: ms(delay.max),
    };
    delay.reset();
    writeFileSync(path.join(dir, `loop-${process.pid}.json`), JSON.stringify(stats));
  });
}
