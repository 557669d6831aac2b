import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface MochaJsonReport {
  readonly tests: readonly { readonly file: string }[];
}

/** The files a package.json script's mocha run would load, from a dry run of that very script. */
async function filesOf(script: string): Promise<string[]> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { stdout } = await run(npm, ['run', '--silent', script, '--', '--dry-run', '--reporter', 'json'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const report = JSON.parse(stdout) as MochaJsonReport;
  return [...new Set(report.tests.map((t) => path.relative(process.cwd(), t.file)))].sort();
}

describe('package scripts', () => {
  it('npm run test:unit runs the protocol tests and nothing else (no services needed)', async () => {
    const protocolTests = (await readdir('test/protocol'))
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => path.join('test/protocol', f))
      .sort();
    expect(protocolTests).to.not.be.empty;
    expect(await filesOf('test:unit')).to.deep.equal(protocolTests);
  });
});
