import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { configVariables } from '../../server/config-vars.js';
import { connectClient } from '../helpers/stomp-client.js';
import { deferred } from '../helpers/wait.js';

const run = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const REPO = process.cwd();
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

/** A child that prints its bound port: resolves with it, from the first line naming it. */
function boundPort(child: ChildProcess, what: string, timeoutMs = 30_000): Promise<number> {
  const found = deferred<number>();
  const seen: string[] = [];
  const timer = setTimeout(
    () => found.reject(new Error(`${what} printed no port within ${timeoutMs} ms:\n${seen.join('\n')}`)),
    timeoutMs,
  );
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      seen.push(line);
      const m = /"port":(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        found.resolve(Number(m[1]));
      }
    });
  }
  child.once('exit', (code, signal) =>
    found.reject(new Error(`${what} exited (${code ?? signal}) before listening:\n${seen.join('\n')}`)),
  );
  return found.promise;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** CONNECT → CONNECTED, then SUBSCRIBE and a SEND that comes back: a real STOMP.js client. */
async function roundTrip(port: number, destination: string, send: string, expected: string): Promise<void> {
  const client = await connectClient(`ws://127.0.0.1:${port}/ws`, { login: 'newcomer' });
  try {
    expect(client.connected.headers.version).to.equal('1.2');
    const inbox = await client.subscribeWithReceipt(destination);
    await client.sendWithReceipt(send, 'hello from the package');
    expect((await inbox.wait(1))[0]!.body).to.equal(expected);
  } finally {
    await client.disconnect();
  }
}

/**
 * SPEC §12, as a user gets it: `npm pack` of a clean copy of the project, `npm install` of the
 * tarball into a scratch project (the npm registry, through the local cache where it can), then
 * the `stomp-relay` command and the library, each with a STOMP.js client.
 */
describe('package: npm pack, install, run', function () {
  this.timeout(300_000);
  let tmp: string;
  let app: string;
  let packed: string[];
  const children = new Set<ChildProcess>();

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'stomp-relay-pack-'));
    // A copy, as a fresh clone would be: prepack builds dist/ there, never in the working tree.
    const src = path.join(tmp, 'src');
    const skipped = new Set(['node_modules', 'dist', '.git', 'test-artifacts']);
    cpSync(REPO, src, {
      recursive: true,
      filter: (from) => !skipped.has(path.relative(REPO, from).split(path.sep)[0]!),
    });
    symlinkSync(path.join(REPO, 'node_modules'), path.join(src, 'node_modules'), 'dir');
    const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', tmp], {
      cwd: src,
      maxBuffer: 16 * 1024 * 1024,
    });
    const [report] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    packed = report!.files.map((f) => f.path);

    app = path.join(tmp, 'app');
    cpSync(path.join(REPO, 'test/package/fixture'), app, { recursive: true });
    await run(
      npm,
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', path.join(tmp, report!.filename)],
      {
        cwd: app,
        maxBuffer: 16 * 1024 * 1024,
      },
    );
  });

  afterEach(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited(child);
    }
    children.clear();
  });

  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  function start(command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawn(command, args, {
      cwd: app,
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    return child;
  }

  it('packs the built library, its type declarations, the demo, LICENSE and README, and nothing else', () => {
    const outside = packed.filter(
      (p) =>
        !/^dist\/(server|protocol|client)\/.+\.(js|d\.ts)$/.test(p) &&
        !p.startsWith('client-demo/') &&
        !['dist/browser/demo.js', 'LICENSE', 'README.md', 'package.json'].includes(p),
    );
    expect(outside).to.deep.equal([]);
    for (const needed of [
      'dist/server/index.js',
      'dist/server/index.d.ts',
      'dist/server/cli.js',
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'dist/client/yjs.js',
      'dist/browser/demo.js',
      'client-demo/index.html',
      'LICENSE',
    ]) {
      expect(packed).to.include(needed);
    }
  });

  it('starts a node with the stomp-relay command, flags over the environment, and a STOMP.js client talks to it', async () => {
    const bin = path.join(app, 'node_modules/.bin/stomp-relay');
    // PORT would stop start-up (exit 2): the flag must win.
    const child = start(bin, ['--port', '0', '--host', '127.0.0.1'], { PORT: '99999' });
    const port = await boundPort(child, 'stomp-relay');
    await roundTrip(port, '/topic/pack', '/topic/pack', 'hello from the package');
    child.kill('SIGTERM');
    expect(await exited(child), 'drained and exited 0').to.deep.equal({ code: 0, signal: null });
  });

  it('starts a node through the library API (createNode, loadConfig, an /app handler, listen)', async () => {
    const child = start(process.execPath, ['start.mjs']);
    const port = await boundPort(child, 'start.mjs');
    // The script's handler answers /app/echo on /topic/echo (Spring's default @SendTo).
    await roundTrip(port, '/topic/echo', '/app/echo', 'echo: hello from the package');
    child.kill('SIGTERM');
    expect(await exited(child)).to.deep.equal({ code: 0, signal: null });
  });

  it('gives the STOMP.js resume helper at stomp-relay/client', async () => {
    const probe =
      "import('stomp-relay/client').then((m) => console.log(typeof m.StompResume, Object.keys(m.RESUME_HEADERS).length > 0))";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: app });
    expect(stdout.trim()).to.equal('function true');
  });

  it('gives the Yjs provider at stomp-relay/yjs, with its Yjs libraries installed', async () => {
    const probe =
      "import('stomp-relay/yjs').then((m) => console.log(typeof m.StompYjsProvider, m.YJS_DESTINATIONS.updates('42')))";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: app });
    expect(stdout.trim()).to.equal('function /topic/docs/42/yjs');
  });

  it("types an application against the package's declarations", async () => {
    // Node's types from this repository: an application that uses the package has its own.
    const tsconfig = {
      compilerOptions: {
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        types: ['node'],
        typeRoots: [path.join(REPO, 'node_modules/@types')],
      },
      files: ['app.ts'],
    };
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = path.join(REPO, 'node_modules/.bin/tsc');
    await run(tsc, ['-p', 'tsconfig.json'], { cwd: app }).catch((err: { stdout?: string; message: string }) => {
      throw new Error(`the application does not typecheck against the package:\n${err.stdout ?? err.message}`);
    });
  });

  it('prints every option with its variable on --help, and the package version on --version', async () => {
    const bin = path.join(app, 'node_modules/.bin/stomp-relay');
    const { stdout: help } = await run(bin, ['--help'], { cwd: app });
    const missing = configVariables().filter((v) => !help.includes(`${v.flag} <value>`) || !help.includes(v.name));
    expect(missing.map((v) => v.name)).to.deep.equal([]);
    const { stdout: version } = await run(bin, ['--version'], { cwd: app });
    expect(version.trim()).to.equal(VERSION);
  });

  it('refuses an unknown flag and a flag without its value with one line and exit code 2', async () => {
    const bin = path.join(app, 'node_modules/.bin/stomp-relay');
    for (const [args, named] of [
      [['--no-such-flag'], '--no-such-flag'],
      [['--port'], '--port'],
    ] as const) {
      const err = await run(bin, [...args], { cwd: app }).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).to.equal(2);
      expect(err?.stderr.trim().split('\n')).to.have.length(1);
      expect(err?.stderr).to.contain(named);
    }
  });
});
