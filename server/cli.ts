#!/usr/bin/env node
import { helpText, parseCommandLine } from './cli-args.js';
import { packageVersion } from './package-info.js';
import { runNode } from './run-node.js';

const command = parseCommandLine(process.argv.slice(2));
switch (command.kind) {
  case 'help':
    process.stdout.write(helpText(packageVersion()));
    break;
  case 'version':
    process.stdout.write(`${packageVersion()}\n`);
    break;
  case 'error':
    process.stderr.write(`stomp-relay: ${command.message} (stomp-relay --help lists the options)\n`);
    process.exitCode = 2;
    break;
  case 'run':
    runNode({ ...process.env, ...command.env }, new Set(Object.keys(command.env))).catch((err: unknown) => {
      process.stderr.write(`stomp-relay failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
