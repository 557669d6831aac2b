/** `npm run bench -- [flags]`: everything the bench can be told. */

export const SCENARIOS = [
  'single',
  'cross',
  'fast',
  'resume',
  'yjs',
  'fanout',
  'http',
  'idle',
  'storm',
  'floors',
  'soak',
  'ha',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

const ALIASES: Readonly<Record<string, ScenarioName>> = {
  s1: 'single',
  s2: 'cross',
  s3: 'fanout',
  s4: 'http',
  s5: 'idle',
  s6: 'floors',
  chat: 'cross',
  'fan-out': 'fanout',
  push: 'http',
  'fast-sender': 'fast',
  flow: 'fast',
};

export interface BenchArgs {
  readonly scenarios: readonly ScenarioName[];
  readonly quick: boolean;
  /** Runs per figure; the figure is their median. */
  readonly runs: number;
  readonly sizes: readonly number[];
  /** Fixed-rate mode. */
  readonly rate: number;
  readonly durationMs: number;
  /** Max-throughput mode: bounded in count (per body size) and time. */
  readonly maxCount: (size: number) => number;
  readonly maxTimeMs: number;
  /** Messages a max-throughput sender may have sent and not yet seen delivered. */
  readonly window: (size: number) => number;
  /** Fixed-rate mode: the sender pauses (and the run counts as saturated) past this many undelivered. */
  readonly maxInFlight: number;
  readonly fanoutSubscribers: readonly number[];
  readonly fanoutProbes: number;
  /** Deliveries per fan-out max-throughput run. */
  readonly fanoutDeliveries: (size: number) => number;
  /** S2 beside the transient floor, the Socket.IO peer and @stomp/stompjs clients. */
  readonly peers: boolean;
  /** The fast sender: its unreceipted window and how long it sends. */
  readonly fastWindow: number;
  readonly fastSeconds: number;
  readonly idleSessions: number;
  /** Sessions on the node killed in the storm scenario. */
  readonly stormSessions: number;
  readonly idleHoldMs: number;
  /** Server processes of the idle scenario (each holds sessions / this); default one per 10,000. */
  readonly idleServers: number | undefined;
  /** Scenario yjs: only the loads with these editor counts (empty: all). */
  readonly editors: readonly number[];
  readonly soak: boolean;
  readonly soakMinutes: number;
  readonly profile: boolean;
  readonly json: boolean;
  readonly tsx: boolean;
  readonly redisUrl: string;
  readonly amqpUrl: string;
}

const USAGE = `usage: npm run bench -- [options]
  --quick               one run of each figure, shorter runs (a sanity check, ~4 min)
  --scenario <names>    only these (comma separated or repeated): ${SCENARIOS.join(', ')}
                        (aliases s1..s6); default: all but soak
  --runs <n>            runs per figure, reported as their median (default 3, --quick 1)
  --sizes <bytes,...>   body sizes (default 100,4096)
  --rate <msg/s>        fixed-rate mode rate (default 5000)
  --duration <s>        fixed-rate mode length (default 5, --quick 2)
  --no-peers            scenario cross without what users would pick instead (the transient
                        ws→amqplib→ws floor, Socket.IO + Redis adapter, @stomp/stompjs clients)
  --fast-seconds <s>    scenario fast: how long the fast sender sends (default 10, --quick 5)
  --fast-window <n>     scenario fast: messages it keeps sent and undelivered (default 10000)
  --idle-20k            scenario idle with 20,000 sessions instead of 5,000
  --idle <n>            scenario idle with n sessions
  --idle-servers <n>    spread them over n server processes (default: one per 10,000; 1 fills one node to its descriptor limit)
  --idle-hold <s>       how long the idle sessions are held before memory is read (default 11, --quick 3;
                        600: the ten minutes in which no session may miss a heart-beat)
  --storm <n>           scenario storm with n sessions on the node killed (default 15000, --quick 3000)
  --editors <n,...>     scenario yjs: only the loads with these editor counts (2, 10, 100)
  --ha                  S2 on the high-availability layout (RabbitMQ cluster of 3, Redis Sentinel) beside one RabbitMQ
  --soak                add the soak: cross-node user to user at --rate for --soak-minutes (default 10)
  --soak-minutes <n>
  --profile             run the product nodes with --cpu-prof and print their hot spots
                        (the figures of such a run are distorted by the profiler)
  --json                print the results as JSON on stdout (the table goes to stderr)
  --tsx                 run the product from server/*.ts through tsx instead of dist/
  REDIS_URL / AMQP_URL (or TEST_REDIS_URL / TEST_AMQP_URL) override the loopback services.`;

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): BenchArgs {
  const picked: ScenarioName[] = [];
  let quick = false,
    runs: number | undefined,
    sizes = [100, 4096],
    rate = 5000,
    duration: number | undefined;
  let peers = true,
    fastSeconds: number | undefined,
    fastWindow = 10_000;
  let idle: number | undefined,
    storm: number | undefined,
    idleServers: number | undefined,
    idleHoldSeconds: number | undefined,
    soak = false,
    editors: number[] = [],
    soakMinutes = 10,
    profile = false,
    json = false,
    tsx = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    const num = (min: number): number => {
      const text = value();
      const n = Number(text);
      if (!Number.isFinite(n) || n < min) fail(`${a}: ${JSON.stringify(text)} is not a number >= ${min}`);
      return n;
    };
    switch (a) {
      case '--quick':
        quick = true;
        break;
      case '--scenario':
      case '--scenarios':
        for (const name of value().split(',')) {
          const s = (SCENARIOS as readonly string[]).includes(name) ? (name as ScenarioName) : ALIASES[name];
          if (!s) fail(`unknown scenario ${JSON.stringify(name)}`);
          if (!picked.includes(s)) picked.push(s);
        }
        break;
      case '--runs':
        runs = Math.floor(num(1));
        break;
      case '--sizes':
        sizes = value().split(',').map(Number);
        if (sizes.some((s) => !Number.isInteger(s) || s < 32 || s > 60_000)) fail('--sizes: integers 32..60000');
        break;
      case '--rate':
        rate = num(1);
        break;
      case '--duration':
        duration = num(0.5) * 1000;
        break;
      case '--no-peers':
        peers = false;
        break;
      case '--fast-seconds':
        fastSeconds = num(1);
        break;
      case '--fast-window':
        fastWindow = Math.floor(num(1));
        break;
      case '--idle-20k':
        idle = 20_000;
        break;
      case '--idle-servers':
        idleServers = Math.floor(num(1));
        break;
      case '--idle-hold':
        idleHoldSeconds = num(1);
        break;
      case '--idle':
        idle = Math.floor(num(10));
        break;
      case '--storm':
        storm = Math.floor(num(10));
        break;
      case '--editors':
        editors = value().split(',').map(Number);
        if (editors.some((n) => !Number.isInteger(n) || n < 2)) fail('--editors: integers >= 2');
        break;
      case '--soak':
        soak = true;
        break;
      case '--ha':
        if (!picked.includes('ha')) picked.push('ha');
        break;
      case '--soak-minutes':
        soakMinutes = num(1);
        soak = true;
        break;
      case '--profile':
        profile = true;
        break;
      case '--json':
        json = true;
        break;
      case '--tsx':
        tsx = true;
        break;
      case '-h':
      case '--help':
        process.stderr.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        fail(`unknown option ${JSON.stringify(a)}`);
    }
  }
  // The soak and the HA layout (engines of its own, ~30 s to start) run only when asked for.
  const scenarios = picked.length > 0 ? picked : SCENARIOS.filter((s) => (s !== 'soak' || soak) && s !== 'ha');
  if (soak && !scenarios.includes('soak')) scenarios.push('soak');
  const shrink = quick ? 4 : 1;
  return {
    scenarios,
    quick,
    runs: runs ?? (quick ? 1 : 3),
    sizes,
    rate,
    durationMs: duration ?? (quick ? 2000 : 5000),
    maxCount: (size) => Math.round((size <= 1024 ? 200_000 : 80_000) / shrink),
    maxTimeMs: quick ? 2000 : 4000,
    window: (size) => (size <= 1024 ? 1000 : 250),
    maxInFlight: 5000,
    fanoutSubscribers: [100, 1000],
    fanoutProbes: quick ? 10 : 30,
    fanoutDeliveries: (size) => Math.round((size <= 1024 ? 200_000 : 60_000) / shrink),
    peers,
    fastWindow,
    fastSeconds: fastSeconds ?? (quick ? 5 : 10),
    idleSessions: idle ?? (quick ? 1000 : 5000),
    stormSessions: storm ?? (quick ? 3000 : 15_000),
    idleHoldMs: idleHoldSeconds !== undefined ? idleHoldSeconds * 1000 : quick ? 3000 : 11_000,
    idleServers,
    editors,
    soak,
    soakMinutes,
    profile,
    json,
    tsx,
    redisUrl: env.REDIS_URL ?? env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    amqpUrl: env.AMQP_URL ?? env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  };
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}
