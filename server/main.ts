import { runNode } from './run-node.js';

runNode(process.env).catch((err: unknown) => {
  process.stderr.write(`stomp-relay failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
