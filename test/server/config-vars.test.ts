import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseCommandLine } from '../../server/cli-args.js';
import { DEFAULTS, loadConfig } from '../../server/config.js';
import { CONFIG_VARS, configVariables } from '../../server/config-vars.js';

const run = promisify(execFile);

/** Every name loadConfig reads from the environment, over the modes that read different ones. */
function variablesRead(): string[] {
  const seen = new Set<string>();
  const recording = (values: Record<string, string>) =>
    new Proxy(values, {
      get(target, name) {
        if (typeof name === 'string') seen.add(name);
        return target[name as string];
      },
    });
  loadConfig(recording({}));
  loadConfig(
    recording({
      REDIS_URL: 'redis://127.0.0.1:6379',
      AMQP_URL: 'amqp://127.0.0.1',
      AUTH_MODE: 'jwt',
      JWT_SECRET: 'x'.repeat(32),
    }),
  );
  return [...seen].sort();
}

describe('config catalogue and command line', () => {
  it('describes exactly the variables loadConfig reads, each with a meaning', () => {
    expect(Object.keys(CONFIG_VARS).sort()).to.deep.equal(variablesRead());
    for (const v of configVariables()) expect(v.meaning, v.name).to.match(/\S/);
  });

  it('gives every variable of DEFAULTS its default, and a flag in lower-case kebab', () => {
    const byName = new Map(configVariables().map((v) => [v.name, v]));
    for (const [name, value] of Object.entries(DEFAULTS))
      expect(byName.get(name as never)?.default, name).to.equal(value);
    expect(byName.get('REDIS_URL')?.flag).to.equal('--redis-url');
    expect(byName.get('MAX_CONNECTIONS_PER_USER')?.flag).to.equal('--max-connections-per-user');
    expect(byName.get('NODE_ID')?.shownDefault).to.equal('<hostname>-<random>');
  });

  it('turns every flag into its variable', () => {
    const args = configVariables().flatMap((v, i) => [v.flag, `value-${i}`]);
    const parsed = parseCommandLine(args);
    expect(parsed.kind).to.equal('run');
    const env = parsed.kind === 'run' ? parsed.env : {};
    expect(env).to.deep.equal(Object.fromEntries(configVariables().map((v, i) => [v.name, `value-${i}`])));
    expect(parseCommandLine(['--port=0', '--amqp-url', 'amqp://x'])).to.deep.equal({
      kind: 'run',
      env: { PORT: '0', AMQP_URL: 'amqp://x' },
    });
  });

  it('answers --help, --version, and refuses unknown flags, missing values and arguments in one line', () => {
    expect(parseCommandLine(['--help'])).to.deep.equal({ kind: 'help' });
    expect(parseCommandLine(['--port', '1', '-h'])).to.deep.equal({ kind: 'help' });
    expect(parseCommandLine(['-v'])).to.deep.equal({ kind: 'version' });
    expect(parseCommandLine(['--prot', '1'])).to.deep.equal({ kind: 'error', message: 'unknown option --prot' });
    expect(parseCommandLine(['--port'])).to.deep.equal({ kind: 'error', message: 'option --port needs a value' });
    expect(parseCommandLine(['--port', '--host', 'x'])).to.deep.equal({
      kind: 'error',
      message: 'option --port needs a value',
    });
    expect(parseCommandLine(['serve'])).to.deep.equal({ kind: 'error', message: "unexpected argument 'serve'" });
  });

  it('names the flag of a bad value given as a flag, and exits 2 with one line', async () => {
    const err = await run(process.execPath, ['--import', 'tsx', 'server/cli.ts', '--port', '70000']).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).to.equal(2);
    expect(err?.stderr.trim()).to.equal('invalid --port: "70000" is not a port (0-65535)');
  });
});
