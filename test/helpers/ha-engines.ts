import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * Engines of the high-availability layout (SPEC §10) on this machine, next to its own Redis and
 * RabbitMQ and never touching them: a RabbitMQ cluster of its own members (own node names, ports,
 * data directories, Erlang cookie and an empty plugin list) and Redis with Sentinel (a primary, a
 * replica, three sentinels). Every process is a child of this one; `stop()` ends them and removes
 * their directory.
 */

const RABBIT_BIN = '/usr/lib/rabbitmq/bin';

/** A free loopback TCP port (the kernel's pick). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A child process with its last output lines, for a failed start's message. */
interface Engine {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<void>;
}

function startEngine(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Engine {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() !== ''),
    );
    if (lines.length > 50) lines.splice(0, lines.length - 50);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, lines, exited };
}

/** Ends an engine's whole process group (the rabbitmq-server script and its Erlang VM). */
async function killEngine(e: Engine, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (e.child.exitCode !== null || e.child.signalCode !== null) return;
  try {
    process.kill(-(e.child.pid as number), signal);
  } catch {
    // already gone
  }
  await e.exited;
}

// ---- RabbitMQ cluster ----------------------------------------------------------------------------

export interface RabbitMember {
  /** Erlang node name, e.g. `sr-ha-123-1@localhost`. */
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** SIGKILL of the member's Erlang VM (its queues' replicas on other members take over). */
  kill(): Promise<void>;
  /** Starts a killed member again on its ports and data: it rejoins the cluster. Resolves once it listens. */
  restart(): Promise<void>;
  readonly alive: boolean;
}

export interface RabbitCluster {
  readonly members: readonly RabbitMember[];
  /** Every member's URL, comma-separated: the nodes' AMQP_URL. */
  readonly amqpUrl: string;
  /** `rabbitmqctl` against a live member. */
  ctl(...args: string[]): Promise<string>;
  /** Kills every member and deletes its data; `keepLogsIn`: a folder the members' logs are copied to first. */
  stop(keepLogsIn?: string): Promise<void>;
}

/** Whether redis-server (which also runs sentinels and Redis Cluster members) is on the PATH. */
export function canRunRedisLayouts(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Whether this machine can run RabbitMQ members of its own (the Debian package's scripts). */
export function canRunRabbitCluster(): boolean {
  return existsSync(path.join(RABBIT_BIN, 'rabbitmq-server')) && existsSync(path.join(RABBIT_BIN, 'rabbitmqctl'));
}

/**
 * Starts `size` RabbitMQ members joined into one cluster; resolves once all run and are clustered.
 * A start that fails is tried again under fresh names and ports (twice at most): a member can find
 * the distribution port it was given taken meanwhile, by another process or by a member of a
 * layout just stopped that epmd still lists.
 */
export async function startRabbitCluster(label: string, size = 3): Promise<RabbitCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRabbitClusterOnce(attempt === 1 ? label : `${label}-r${attempt}`, size);
    } catch (err) {
      if (attempt >= 3) throw err;
      console.warn(`    (RabbitMQ cluster start failed, trying again: ${String(err).slice(0, 300)})`);
    }
  }
}

async function startRabbitClusterOnce(label: string, size: number): Promise<RabbitCluster> {
  const dir = path.join(os.tmpdir(), `stomp-relay-${label}-rabbit`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // One cookie for the members and their rabbitmqctl, not the machine's: HOME points here.
  writeFileSync(path.join(dir, '.erlang.cookie'), randomBytes(16).toString('hex').toUpperCase(), { mode: 0o400 });
  writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(path.join(dir, 'rabbitmq-env.conf'), '');
  const baseEnv = (name: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_NODENAME: name,
    ...extra,
  });

  const engines: Engine[] = [];
  const members: (RabbitMember & { readonly engine: Engine })[] = [];
  const ctlOn = async (name: string, args: readonly string[]): Promise<string> => {
    const { stdout } = await run(path.join(RABBIT_BIN, 'rabbitmqctl'), ['-n', name, ...args], {
      env: baseEnv(name),
      timeout: 60_000,
    });
    return stdout;
  };
  const stop = async (keepLogsIn?: string): Promise<void> => {
    await Promise.all(engines.map((e) => killEngine(e)));
    if (keepLogsIn)
      for (let i = 1; i <= size; i++) {
        const log = path.join(dir, `m${i}`, 'log');
        if (existsSync(log)) cpSync(log, path.join(keepLogsIn, `rabbit-m${i}`), { recursive: true });
      }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (let i = 1; i <= size; i++) {
      const name = `sr-${label}-${i}@localhost`;
      const port = await freePort();
      const distPort = await freePort();
      const memberDir = path.join(dir, `m${i}`);
      mkdirSync(memberDir, { recursive: true });
      const conf = path.join(memberDir, 'rabbitmq.conf');
      writeFileSync(conf, `listeners.tcp.local = 127.0.0.1:${port}\nloopback_users = none\n`);
      const launch = (): Engine => {
        const e = startEngine(
          path.join(RABBIT_BIN, 'rabbitmq-server'),
          [],
          baseEnv(name, {
            RABBITMQ_NODE_PORT: String(port),
            RABBITMQ_DIST_PORT: String(distPort),
            RABBITMQ_CONFIG_FILE: conf,
            RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
            RABBITMQ_MNESIA_BASE: path.join(memberDir, 'mnesia'),
            RABBITMQ_LOG_BASE: path.join(memberDir, 'log'),
            RABBITMQ_PID_FILE: path.join(memberDir, 'pid'),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
          }),
        );
        engines.push(e);
        return e;
      };
      let engine = launch();
      const member = {
        name,
        port,
        url: `amqp://guest:guest@127.0.0.1:${port}`,
        get engine() {
          return engine;
        },
        kill: () => killEngine(engine),
        restart: async () => {
          if (member.alive) return;
          engine = launch();
          await waitFor(() => portOpen(port), `RabbitMQ member ${name} listening again`, 90_000, 250);
        },
        get alive() {
          return engine.child.exitCode === null && engine.child.signalCode === null;
        },
      };
      members.push(member);
    }
    for (const m of members) {
      await waitFor(
        () => {
          // A member that crashed at start (its ports taken) will not listen: fail now, not in 90 s.
          if (!m.alive) throw new Error(`RabbitMQ member ${m.name} exited: ${m.engine.lines.slice(-3).join(' | ')}`);
          return portOpen(m.port);
        },
        `RabbitMQ member ${m.name} listening (${m.engine.lines.slice(-3).join(' | ')})`,
        90_000,
        250,
      );
    }
    const first = members[0] as RabbitMember;
    for (const m of members.slice(1)) {
      await ctlOn(m.name, ['stop_app']);
      await ctlOn(m.name, ['join_cluster', first.name]);
      await ctlOn(m.name, ['start_app']);
    }
    await waitFor(
      () => Promise.all(members.map((m) => portOpen(m.port))).then((open) => open.every(Boolean)),
      'every member listening again',
      60_000,
      250,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    members,
    amqpUrl: members.map((m) => m.url).join(','),
    ctl: (...args) => {
      const live = members.find((m) => m.alive);
      if (!live) return Promise.reject(new Error('no RabbitMQ member is running'));
      return ctlOn(live.name, args);
    },
    stop,
  };
}

// ---- Redis with Sentinel ------------------------------------------------------------------------

export interface RedisSentinelLayout {
  /** The nodes' REDIS_SENTINELS and REDIS_SENTINEL_NAME. */
  readonly sentinels: string;
  readonly name: string;
  /** The port of the current primary, as the sentinels see it. */
  primaryPort(): Promise<number>;
  /** SIGKILL of the current primary: the sentinels promote the replica. */
  killPrimary(): Promise<number>;
  /**
   * Starts the Redis killed on `port` again, once the sentinels have promoted another, as a replica
   * of the new primary: the layout can fail over again. Resolves once it has synced.
   */
  restartAsReplica(port: number): Promise<void>;
  stop(): Promise<void>;
}

/** A Redis primary, one replica and three sentinels (quorum 2), failing over after 1 s of silence. */
export async function startRedisSentinel(label: string): Promise<RedisSentinelLayout> {
  const dir = path.join(os.tmpdir(), `stomp-relay-${label}-redis`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const name = `sr-${label}`.replace(/[^A-Za-z0-9._-]/g, '-');
  const servers = new Map<number, Engine>();
  const engines: Engine[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(engines.map((e) => killEngine(e)));
    rmSync(dir, { recursive: true, force: true });
  };
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  try {
    const primary = await freePort();
    const replica = await freePort();
    const launch = (port: number, primaryPort?: number): void => {
      const args = [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--dbfilename',
        `dump-${port}.rdb`,
      ];
      if (primaryPort !== undefined) args.push('--replicaof', '127.0.0.1', String(primaryPort));
      const e = startEngine('redis-server', args, env);
      engines.push(e);
      servers.set(port, e);
    };
    launch(primary);
    launch(replica, primary);
    const sentinelPorts: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const port = await freePort();
      const conf = path.join(dir, `sentinel-${i}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${primary} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      engines.push(startEngine('redis-server', [conf, '--sentinel'], env));
      sentinelPorts.push(port);
    }
    for (const port of [primary, replica, ...sentinelPorts])
      await waitFor(() => portOpen(port), `Redis on ${port}`, 20_000, 100);
    const sentinelAsk = async (): Promise<number> => {
      const { stdout } = await run('redis-cli', [
        '-p',
        String(sentinelPorts[0]),
        'SENTINEL',
        'get-master-addr-by-name',
        name,
      ]);
      return Number(stdout.trim().split('\n')[1]);
    };
    // The replica has synced and every sentinel knows the others before a failover can happen.
    await waitFor(
      async () =>
        (await run('redis-cli', ['-p', String(replica), 'INFO', 'replication'])).stdout.includes(
          'master_link_status:up',
        ),
      'the replica synced',
      20_000,
      200,
    );
    await waitFor(
      async () =>
        (await run('redis-cli', ['-p', String(sentinelPorts[0]), 'SENTINEL', 'sentinels', name])).stdout
          .split('\n')
          .filter((l) => l === 'name').length >= 2,
      'the sentinels found each other',
      20_000,
      200,
    );
    return {
      sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
      name,
      primaryPort: sentinelAsk,
      killPrimary: async () => {
        const port = await sentinelAsk();
        const e = servers.get(port);
        if (!e) throw new Error(`no Redis of this layout on ${port}`);
        await killEngine(e);
        return port;
      },
      restartAsReplica: async (port) => {
        const e = servers.get(port);
        if (!e) throw new Error(`no Redis of this layout on ${port}`);
        if (e.child.exitCode === null && e.child.signalCode === null) return;
        await waitFor(async () => (await sentinelAsk()) !== port, 'the sentinels to promote a replica', 30_000, 200);
        launch(port, await sentinelAsk());
        await waitFor(
          async () =>
            (await run('redis-cli', ['-p', String(port), 'INFO', 'replication'])).stdout.includes(
              'master_link_status:up',
            ),
          `the restarted Redis on ${port} to sync`,
          30_000,
          200,
        ).catch(() => undefined); // a sentinel may reconfigure it first; it syncs in its own time
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---- Redis Cluster ------------------------------------------------------------------------------

export interface RedisClusterLayout {
  /** The nodes' REDIS_CLUSTER_NODES: every member, `127.0.0.1:port,…`. */
  readonly nodes: string;
  readonly ports: readonly number[];
  /** The port of the master serving `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  /** SIGKILL of the master serving `key`'s slot: its replica is promoted. Resolves with its port. */
  killMasterOf(key: string): Promise<number>;
  stop(): Promise<void>;
}

/** Three masters with a replica each (six processes), a node timeout of 1 s; resolves once the cluster state is ok. */
export async function startRedisCluster(label: string): Promise<RedisClusterLayout> {
  const dir = path.join(os.tmpdir(), `stomp-relay-${label}-redis-cluster`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const engines = new Map<number, Engine>();
  const stop = async (): Promise<void> => {
    await Promise.all([...engines.values()].map((e) => killEngine(e)));
    rmSync(dir, { recursive: true, force: true });
  };
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const cli = async (port: number, ...args: string[]): Promise<string> =>
    (await run('redis-cli', ['-p', String(port), ...args])).stdout;
  try {
    const ports: number[] = [];
    for (let i = 0; i < 6; i++) ports.push(await freePort());
    for (const port of ports) {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
      args.push(
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '1000',
      );
      engines.set(port, startEngine('redis-server', args, env));
    }
    for (const port of ports) await waitFor(() => portOpen(port), `Redis on ${port}`, 20_000, 100);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    await waitFor(
      async () => {
        for (const p of ports) if (!(await cli(p, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
        // Every replica has synced with its master, so a failover loses nothing written before.
        const replicas = await Promise.all(ports.map((p) => cli(p, 'INFO', 'replication')));
        return replicas.every((r) => !r.includes('role:slave') || r.includes('master_link_status:up'));
      },
      'the Redis Cluster to be ok',
      30_000,
      200,
    );
    const masterOf = async (key: string): Promise<number> => {
      const live = [...engines.entries()].find(([, e]) => e.child.exitCode === null && e.child.signalCode === null);
      if (!live) throw new Error('no Redis Cluster member is running');
      const slot = Number((await cli(live[0], 'CLUSTER', 'KEYSLOT', key)).trim());
      // CLUSTER SHARDS would say it directly; CLUSTER NODES works on every version: "id addr flags master - … slots".
      for (const line of (await cli(live[0], 'CLUSTER', 'NODES')).split('\n')) {
        const f = line.split(' ');
        if (!f[2]?.includes('master') || f[2].includes('fail')) continue;
        for (const range of f.slice(8)) {
          const [from, to = from] = range.split('-').map(Number);
          if (from !== undefined && slot >= from && slot <= (to as number)) return Number(f[1]!.split(/[:@]/)[1]);
        }
      }
      throw new Error(`no master serves the slot of ${key}`);
    };
    return {
      nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
      ports,
      masterOf,
      killMasterOf: async (key) => {
        const port = await masterOf(key);
        await killEngine(engines.get(port)!);
        return port;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
