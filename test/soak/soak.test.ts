import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { canRunRabbitCluster, canRunRedisLayouts } from '../helpers/ha-engines.js';

const MINUTES = 2;
/** The same schedule of faults every run (timing still varies); `npm run soak` draws a new one each time. */
const SEED = 4242;

/**
 * The soak's short run, as part of `npm test` (longer runs: `npm run soak -- --minutes N`): the HA
 * layout under three relay nodes, a steady stream of numbered user messages and a seeded schedule
 * of engine and relay-node faults. The soak itself counts every accepted message and exits 1 on
 * one lost or received twice.
 */
describe(`soak: ${MINUTES} minutes of engine and relay-node faults on the HA layout (seed ${SEED})`, function () {
  this.timeout((MINUTES + 8) * 60_000);

  it('receives every accepted message exactly once', async function () {
    if (!canRunRabbitCluster() || !canRunRedisLayouts()) {
      const what = 'the soak needs the rabbitmq-server package scripts (/usr/lib/rabbitmq/bin) and redis-server';
      if (process.env.CI === 'true') throw new Error(`${what}; CI needs them`);
      console.warn(`\n  !!! SKIPPED "${this.test?.fullTitle() ?? 'soak'}": ${what}.\n`);
      this.skip();
    }
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/soak/run.ts', '--minutes', String(MINUTES), '--seed', String(SEED)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const seed = /seed (\d+)/.exec(out)?.[1];
    const summary = out.split('\n').find((l) => l.startsWith('soak: sent='));
    console.log(`      seed ${seed}: ${summary ?? '(no summary)'}`);
    if (code !== 0) console.log(out.replace(/^/gm, '      | '));
    expect(summary, 'the soak printed its counts').to.be.a('string');
    expect(summary).to.match(/ lost=0 duplicates=0 /);
    expect(code, 'the soak exit code').to.equal(0);
  });
});
