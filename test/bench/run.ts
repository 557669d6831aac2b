/**
 * `npm run bench`: the performance scenarios of issue 7 against real node processes on
 * loopback, each beside its floor, with a table at the end (and JSON with --json).
 * Never part of `npm test`. See docs/performance.md and `npm run bench -- --help`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs, SCENARIOS, type ScenarioName } from './args.js';
import { PRODUCT_BENCH_ENV, profileDirFor, stopEverything, type BenchContext } from './context.js';
import { deleteRedisKeys, infraPids, productArgs, rabbitPids, REPO_ROOT } from './processes.js';
import { renderProfile, summarizeProfile } from './profile-summary.js';
import { evaluatePeerTargets, renderComparison, renderFastSender } from './report-compare.js';
import { evaluateTargets, machineInfo, renderTables, type Figure } from './report.js';
import { cross } from './scenarios/cross.js';
import { fastSender } from './scenarios/fast-sender.js';
import { fanout } from './scenarios/fanout.js';
import { amqpFloor } from './scenarios/floors.js';
import { httpPush } from './scenarios/http-push.js';
import { idle } from './scenarios/idle.js';
import { resume } from './scenarios/resume.js';
import { single } from './scenarios/single.js';
import { soak } from './scenarios/soak.js';
import { ha } from './scenarios/ha.js';
import { yjs } from './scenarios/yjs.js';
import { storm } from './scenarios/storm.js';

const args = parseArgs(process.argv.slice(2), process.env);
const progress = (line: string) => process.stderr.write(`${line}\n`);

for (const u of [args.redisUrl, args.amqpUrl]) {
  const host = new URL(u).hostname;
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(host)) {
    progress(`bench: ${u} is not on loopback; the bench only loads this machine`);
    process.exit(2);
  }
}

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port), timeout: 1000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

const runId = `bench-${process.pid}-${randomBytes(3).toString('hex')}`;
const figures: Figure[] = [];
const ctx: BenchContext = {
  args,
  runId,
  infraPids: infraPids(args.redisUrl, args.amqpUrl),
  rabbitPids: rabbitPids(args.amqpUrl),
  figures,
  profileDir: args.profile ? profileDirFor(runId) : undefined,
  notes: [],
  progress,
};

// Every scenario but S1 (one embedded node) runs on the machine's Redis and RabbitMQ.
const NEEDS_SERVICES: ReadonlySet<ScenarioName> = new Set(SCENARIOS.filter((s) => s !== 'single'));
const ORDER: readonly ScenarioName[] = [
  'floors',
  'single',
  'cross',
  'fast',
  'resume',
  'yjs',
  'fanout',
  'http',
  'idle',
  'storm',
  'soak',
  'ha',
];
const floorsAlone = args.scenarios.length === 1 && args.scenarios[0] === 'floors';
const RUNNERS: Record<ScenarioName, () => Promise<void>> = {
  floors: async () => {
    await amqpFloor(ctx);
    if (floorsAlone) {
      for (const f of [single, cross, fanout, httpPush, idle]) await f(ctx, true);
    }
  },
  single: () => single(ctx),
  cross: () => cross(ctx),
  fast: () => fastSender(ctx),
  resume: () => resume(ctx),
  yjs: () => yjs(ctx),
  fanout: () => fanout(ctx),
  http: () => httpPush(ctx),
  idle: () => idle(ctx),
  storm: () => storm(ctx),
  soak: () => soak(ctx),
  ha: () => ha(ctx),
};
const TITLES: Record<ScenarioName, string> = {
  floors:
    'S6 floors: raw amqplib publish→consume' +
    (floorsAlone ? ", and every scenario's floor" : ' (the other floors run inside their scenarios)'),
  single: 'S1 single node, user to user (floor: raw ws echo)',
  cross: `S2 cross node, user to user and /app/chat (floor: ws→amqplib→ws${args.peers ? '; beside: transient ws→amqplib→ws, Socket.IO + Redis adapter, @stomp/stompjs clients' : ''})`,
  fast: `fast sender: ${args.fastWindow.toLocaleString('en-US')} messages undelivered for ${args.fastSeconds} s on a healthy cluster`,
  resume: 'resume after reconnect: 300 missed messages recovered from history',
  yjs: "Yjs documents: 2 to 100 editors typing, through two nodes and through y-websocket's server",
  fanout: `S3 fan-out to ${args.fanoutSubscribers.join(' and ')} subscribers over two nodes (floor: raw ws server→client)`,
  http: 'S4 HTTP push to a node without the user (floor: HTTP→amqplib→ws)',
  idle: `S5 ${args.idleSessions.toLocaleString('en-US')} idle sessions (floor: bare ws server)`,
  storm: `reconnect storm: ${args.stormSessions.toLocaleString('en-US')} sessions on a node killed with SIGKILL come back on the two others`,
  soak: `soak: ${args.soakMinutes} min at ${args.rate} msg/s`,
  ha: 'S2 user to user on a RabbitMQ cluster of three and Redis with Sentinel, beside one RabbitMQ (floor: ws→amqplib→ws)',
};

let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  progress("bench: interrupted; stopping the nodes and deleting this run's Redis keys and RabbitMQ names");
  void stopEverything()
    .then(() => deleteRedisKeys(args.redisUrl, runId))
    .catch(() => undefined)
    .finally(() => process.exit(130));
  setTimeout(() => process.exit(130), 15_000).unref();
});

const started = Date.now();
const machine = machineInfo();
const header = [
  `stomp-relay bench — ${new Date().toISOString()} — ${machine.nproc} × ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}, load ${machine.loadavg1} at start`,
  `product: node ${path.relative(REPO_ROOT, productArgs({ tsx: args.tsx }).at(-1) ?? '')}${args.profile ? ' with --cpu-prof (figures distorted by the profiler)' : ''}; bench env ${Object.entries(
    PRODUCT_BENCH_ENV,
  )
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')} (raised from the defaults for throughput); LOG_LEVEL=info`,
  `runs: median of ${args.runs}; fixed rate ${args.rate.toLocaleString('en-US')} msg/s for ${args.durationMs / 1000} s; max throughput bounded by ${args.sizes.map((s) => `${args.maxCount(s).toLocaleString('en-US')} msgs (${s} B)`).join(', ')} and ${args.maxTimeMs / 1000} s, window ${args.sizes.map((s) => args.window(s)).join('/')}; all processes share this machine`,
];
progress(header.join('\n'));
if (Number(loadavg()[0]) > 0.5)
  progress(
    `bench: note: load average ${loadavg()[0]?.toFixed(2)} before starting — other work on this machine makes the figures noisy`,
  );

const servicesUp = (await reachable(args.redisUrl)) && (await reachable(args.amqpUrl));
const failures: string[] = [];
const scenarios = ORDER.filter((s) => args.scenarios.includes(s));
for (const [i, name] of scenarios.entries()) {
  if (interrupted) break;
  progress(`\n[${i + 1}/${scenarios.length}] ${TITLES[name]}`);
  if (NEEDS_SERVICES.has(name) && !servicesUp) {
    const msg = `${name}: skipped — Redis (${args.redisUrl}) or RabbitMQ (${args.amqpUrl}) not reachable; start them (redis-server --daemonize yes; rabbitmq-server -detached)`;
    progress(`  ${msg}`);
    failures.push(msg);
    continue;
  }
  const t0 = Date.now();
  try {
    await RUNNERS[name]();
    progress(`  done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } catch (err) {
    const msg = `${name} failed: ${err instanceof Error ? err.message : String(err)}`;
    progress(`  ${msg}`);
    failures.push(msg.split('\n')[0] ?? msg);
  }
  if (ctx.profileDir) {
    const label = {
      single: 's1',
      cross: 's2',
      fast: 'fast',
      resume: 'res',
      yjs: 'yjs',
      fanout: 's3',
      http: 's4',
      idle: 's5',
      storm: 'storm',
      soak: 'soak',
      ha: 'ha',
      floors: '',
    }[name];
    let files: string[] = [];
    try {
      // The scenario's nodes (`s2-`), its floors (`s2f-`, `s2t-`) and peers (`s2io-`).
      files = readdirSync(ctx.profileDir)
        .filter((f) => label !== '' && new RegExp(`^${label}(f|t|io)?-`).test(f) && f.endsWith('.cpuprofile'))
        .sort();
    } catch {
      // no profile written
    }
    for (const f of files) progress(renderProfile(summarizeProfile(path.join(ctx.profileDir, f))));
  }
}

const elapsedS = (Date.now() - started) / 1000;
const targets = [...evaluateTargets(figures), ...evaluatePeerTargets(figures)];
const tables = renderTables({
  figures,
  targets,
  sections: [renderComparison(figures), renderFastSender(figures)].filter((x): x is string => x !== undefined),
  header: [
    `### Run of ${new Date().toISOString().slice(0, 10)} (${elapsedS >= 90 ? `${(elapsedS / 60).toFixed(1)} min` : `${elapsedS.toFixed(0)} s`}${args.quick ? ', --quick' : ''})`,
    '',
    `${machine.nproc} × ${machine.cpu}, ${machine.memGiB} GiB, Node ${machine.node}; load average ${machine.loadavg1} at start. Median of ${args.runs} run(s). Fixed rate ${args.rate.toLocaleString('en-US')} msg/s × ${args.durationMs / 1000} s. Product nodes with ${Object.entries(
      PRODUCT_BENCH_ENV,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}.`,
    ...(ctx.notes.length > 0 ? ['', ...ctx.notes] : []),
  ],
});
const outDir = path.join(REPO_ROOT, 'test-artifacts', 'bench');
mkdirSync(outDir, { recursive: true });
const json = {
  runId,
  date: new Date().toISOString(),
  elapsedSeconds: elapsedS,
  machine,
  notes: ctx.notes,
  args: {
    ...args,
    maxCount: Object.fromEntries(args.sizes.map((s) => [s, args.maxCount(s)])),
    window: Object.fromEntries(args.sizes.map((s) => [s, args.window(s)])),
    fanoutDeliveries: Object.fromEntries(args.sizes.map((s) => [s, args.fanoutDeliveries(s)])),
  },
  productEnv: PRODUCT_BENCH_ENV,
  figures,
  targets,
  failures,
};
writeFileSync(path.join(outDir, `${runId}.json`), JSON.stringify(json, null, 2));
writeFileSync(path.join(outDir, `${runId}.md`), tables);

if (args.json) {
  process.stderr.write(`\n${tables}\n`);
  process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
} else {
  process.stdout.write(`\n${tables}\n`);
}
if (failures.length > 0) progress(`\nfailed or skipped:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
progress(
  `\nbench took ${(elapsedS / 60).toFixed(1)} min; results in ${path.relative(REPO_ROOT, outDir)}/${runId}.{md,json}`,
);
process.exit(failures.length > 0 ? 1 : 0);
