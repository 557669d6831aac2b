import { parseArgs } from 'node:util';
import { configVariables, type ConfigVarName } from './config-vars.js';

/** What the command line asks for. `env`: the variables its flags set (they win over the environment). */
export type CommandLine =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly env: Readonly<Partial<Record<ConfigVarName, string>>> }
  | { readonly kind: 'error'; readonly message: string };

/** Reads `stomp-relay [options]`: every configuration variable as a lower-case kebab flag. Pure. */
export function parseCommandLine(args: readonly string[]): CommandLine {
  const variables = configVariables();
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  for (const v of variables) options[v.flag.slice(2)] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    return { kind: 'error', message: oneLine(err) };
  }
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  const env: Partial<Record<ConfigVarName, string>> = {};
  for (const v of variables) {
    const value = values[v.flag.slice(2)];
    if (typeof value === 'string') env[v.name] = value;
  }
  return { kind: 'run', env };
}

/** parseArgs's messages run over several lines and suggest quoting; one line naming the option is enough. */
function oneLine(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const named = /'([^' ]+)/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${named}`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument '${named}'`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && !message.includes('does not take'))
    return `option ${named} needs a value`;
  return message.split('\n')[0]!;
}

const WIDTH = 100;

function wrap(text: string, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent.length + line.length + 1 + word.length > WIDTH) {
      lines.push(indent + line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(indent + line);
  return lines.join('\n');
}

/** `stomp-relay --help`: every option, its variable, default and meaning, from the catalogue. */
export function helpText(version: string): string {
  const flagColumn = 34;
  const rows = configVariables().map((v) => {
    const left = `  ${v.flag} <value>`.padEnd(flagColumn);
    const right = v.shownDefault === undefined ? `${v.name} (unset)` : `${v.name}, default ${v.shownDefault}`;
    return `${left}${right}\n${wrap(v.meaning, ' '.repeat(6))}`;
  });
  return [
    `stomp-relay ${version}: STOMP over WebSocket with Spring's conventions, clustered on Redis and RabbitMQ`,
    '',
    'Usage: stomp-relay [options]',
    '',
    wrap(
      'Runs a node: the STOMP endpoint (WebSocket and SockJS), the HTTP API, /metrics and the demo on one port. ' +
        'Embedded (in memory) by default; a cluster node with --redis-url and --amqp-url. ' +
        'Every option is also an environment variable (shown beside it); a flag wins over the variable. ' +
        'Prefer the variables for secrets: a flag shows in the process list. ' +
        'Ctrl-C or SIGTERM drains the node; a second one ends it at once. A bad value exits with code 2.',
      '',
    ),
    '',
    `${'  -h, --help'.padEnd(flagColumn)}print this help and exit`,
    `${'  -v, --version'.padEnd(flagColumn)}print the version and exit`,
    '',
    ...rows,
    '',
  ].join('\n');
}
