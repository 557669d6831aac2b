import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { deferred } from '../helpers/wait.js';

/**
 * How `server/main.ts` ends on signals, as a user runs it: `npm start | cat` (or `| pino-pretty`),
 * where Ctrl-C also ends the reader, and a second Ctrl-C while the first drain cannot finish.
 */
describe('main: signals', function () {
  const children = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    children.clear();
  });

  type Exit = { code: number | null; signal: NodeJS.Signals | null };
  function exited(child: ChildProcess): Promise<Exit> {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null)
        resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  /** Resolves within `ms` with the exit, or with 'still running' (the bound is a hang detector, not a speed check). */
  function exitWithin(child: ChildProcess, ms: number): Promise<Exit | 'still running'> {
    return Promise.race([
      exited(child),
      new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms).unref()),
    ]);
  }

  /** Every line of `stream`, kept; `next(re)` resolves with the first (past or future) that matches. */
  function lines(stream: NodeJS.ReadableStream) {
    const seen: string[] = [];
    const waiting = new Set<(line: string) => void>();
    createInterface({ input: stream }).on('line', (line) => {
      seen.push(line);
      for (const w of waiting) w(line);
    });
    return {
      next(re: RegExp, what: string, timeoutMs = 15_000): Promise<RegExpExecArray> {
        const found = deferred<RegExpExecArray>();
        const check = (line: string) => {
          const m = re.exec(line);
          if (!m) return;
          clearTimeout(timer);
          waiting.delete(check);
          found.resolve(m);
        };
        const timer = setTimeout(() => {
          waiting.delete(check);
          found.reject(new Error(`no line matching ${re} (${what}) within ${timeoutMs} ms; saw:\n${seen.join('\n')}`));
        }, timeoutMs);
        waiting.add(check);
        for (const line of seen) check(line);
        return found.promise;
      },
    };
  }

  function startNode(env: Record<string, string>, stdout: 'pipe' | NodeJS.WritableStream): ChildProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', stdout === 'pipe' ? 'pipe' : (stdout as never), 'pipe'],
    });
    children.add(child);
    child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[node stderr] ${d.toString()}`));
    return child;
  }

  it('exits after the drain when the reader of its piped stdout is gone (EPIPE)', async function () {
    this.timeout(40_000);
    // The reader copies the node's stdout to us, as `| cat` would to a terminal.
    const reader = spawn(process.execPath, ['-e', 'process.stdin.pipe(process.stdout)'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    children.add(reader);
    const node = startNode({ DRAIN_TIMEOUT_MS: '3000' }, reader.stdin);
    // Only the node holds the pipe's write end now, and only the reader its read end.
    reader.stdin.destroy();
    await lines(reader.stdout).next(/"port":(\d+)/, 'the node is listening');

    reader.kill('SIGKILL');
    await exited(reader);
    node.kill('SIGINT');
    const exit = await exitWithin(node, 20_000);
    expect(exit, 'the node exits on its own after Ctrl-C with nobody reading its output').to.deep.equal({
      code: 0,
      signal: null,
    });
  });

  it('ends at once on a second SIGINT while the first drain is stuck (services unreachable)', async function () {
    this.timeout(40_000);
    const closed = await closedPort();
    const node = startNode(
      {
        REDIS_URL: `redis://127.0.0.1:${closed}`,
        AMQP_URL: `amqp://127.0.0.1:${closed}`,
        KEY_PREFIX: 'test-signals:',
        // Far beyond the test's bound: only the second signal can end the process in time.
        DRAIN_TIMEOUT_MS: '120000',
      },
      'pipe',
    );
    const out = lines(node.stdout!);
    await out.next(/"port":(\d+)/, 'the node is listening');
    node.kill('SIGINT');
    await out.next(/"msg":"draining"/, 'the drain started');
    expect(await exitWithin(node, 500), 'the first drain is stuck').to.equal('still running');
    node.kill('SIGINT');
    const exit = await exitWithin(node, 10_000);
    expect(exit, 'the second SIGINT ends the process').to.not.equal('still running');
    expect((exit as Exit).code, 'a cut-short drain exits non-zero')
      .to.be.a('number')
      .and.not.equal(0);
  });
});

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
