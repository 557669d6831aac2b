import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULTS, loadConfig } from '../server/config.js';
import { CloseCode, ERRORS } from '../server/errors.js';
import { Metrics } from '../server/metrics.js';
import { parse as parseYaml } from 'yaml';

/** The documents a user reads, checked against the code they describe. */
const read = (file: string): string => readFileSync(file, 'utf8');
const DOCS = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join('docs', f)),
];

/** The lines of a `## title` section, up to the next `## `. */
function section(text: string, title: string): string {
  const start = text.indexOf(`\n## ${title}\n`);
  expect(start, `section "${title}"`).to.be.greaterThan(-1);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end === -1 ? undefined : end);
}

/** Every name `loadConfig` reads from the environment, in embedded and in cluster/JWT mode. */
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

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as `-`. */
function anchors(markdown: string): Set<string> {
  const headings = [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1]!);
  return new Set(
    headings.map((h) =>
      h
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\- ]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('documentation', () => {
  it('README lists every variable loadConfig reads, once, with its default', () => {
    const rows = [
      ...section(read('README.md'), 'Configuration').matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| ([^|]+) \| ([^|].*) \|$/gm),
    ];
    const documented = rows.map((r) => r[1]!);
    expect([...documented].sort()).to.deep.equal(variablesRead());
    expect(new Set(documented).size, 'each variable once').to.equal(documented.length);
    const defaults: Record<string, string> = DEFAULTS;
    const wrong = rows
      .filter(
        ([, name, cell]) =>
          name! in defaults && !cell!.trim().startsWith(defaults[name!] === '' ? '—' : `\`${defaults[name!]}\``),
      )
      .map(([, name, cell]) => `${name}: ${cell!.trim()} (DEFAULTS: ${defaults[name!]})`);
    expect(wrong).to.deep.equal([]);
  });

  it('docs/operations.md lists every close code, and every STOMP error code with its close code', () => {
    const page = read('docs/operations.md');
    const missingClose = Object.values(CloseCode).filter((code) => !new RegExp(`^\\| ${code} \\|`, 'm').test(page));
    expect(missingClose).to.deep.equal([]);
    const wrong = Object.entries(ERRORS).flatMap(([code, spec]) =>
      'closeCode' in spec && !page.includes(`| \`${code}\` | ${spec.closeCode} |`)
        ? [`${code} (${spec.closeCode})`]
        : [],
    );
    expect(wrong).to.deep.equal([]);
  });

  it('docs/http-api.md lists every HTTP-only error code with its status', () => {
    const page = read('docs/http-api.md');
    const wrong = Object.entries(ERRORS).flatMap(([code, spec]) =>
      !('closeCode' in spec) && !page.includes(`| ${spec.httpStatus} | \`${code}\` |`)
        ? [`${code} (${spec.httpStatus})`]
        : [],
    );
    expect(wrong).to.deep.equal([]);
  });

  it('docs/operations.md describes every metric the node exposes', async () => {
    const page = section(read('docs/operations.md'), 'Metrics');
    const names = (await new Metrics({ defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).to.include('stomp_connections');
    expect(names.filter((name) => !new RegExp(`\`${name}[\`{]`).test(page))).to.deep.equal([]);
  });

  it('compose.yaml: every node environment passes the configuration checks, and the HA nodes name every member', () => {
    interface Service {
      readonly environment?: Record<string, string>;
      readonly hostname?: string;
      readonly profiles?: string[];
      readonly networks?: string[] | Record<string, { aliases?: string[] }>;
    }
    const compose = parseYaml(read('compose.yaml'), { merge: true }) as { services: Record<string, Service> };
    const services = Object.entries(compose.services);
    const nodes = services.filter(([, s]) => s.environment?.NODE_ID !== undefined);
    expect(nodes.map(([n]) => n).sort()).to.deep.equal([
      'ha-node-1',
      'ha-node-2',
      'ha-node-3',
      'node-1',
      'node-2',
      'node-3',
    ]);
    for (const [name, s] of nodes) expect(() => loadConfig(s.environment!), name).to.not.throw();

    const ha = services.filter(([, s]) => s.profiles?.includes('ha'));
    const rabbits = ha.filter(([, s]) => s.hostname?.startsWith('rabbit-')).map(([, s]) => s.hostname!);
    const sentinels = ha.filter(([n]) => n.startsWith('sentinel-')).map(([n]) => `${n}:26379`);
    expect(rabbits).to.have.length(3);
    expect(sentinels).to.have.length(3);
    const peers = [...read('deploy/rabbitmq-ha.conf').matchAll(/= rabbit@(\S+)/g)].map((m) => m[1]);
    expect(peers, 'deploy/rabbitmq-ha.conf names the members').to.deep.equal(rabbits);
    const upstreams = [...read('deploy/nginx.conf').matchAll(/server (node-\d):8080/g)].map((m) => m[1]);
    for (const [name, s] of ha.filter(([n]) => n.startsWith('ha-node-'))) {
      const config = loadConfig(s.environment!);
      expect(
        config.amqpUrls.map((u) => new URL(u).hostname),
        name,
      ).to.deep.equal(rabbits);
      expect(
        config.redisSentinels?.hosts.map((h) => `${h.host}:${h.port}`),
        name,
      ).to.deep.equal(sentinels);
      const aliases = (s.networks as Record<string, { aliases?: string[] }>).ha?.aliases ?? [];
      expect(upstreams, `${name} answers to one of nginx's upstreams`).to.include(aliases[0]);
    }
  });

  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const file of DOCS) {
      for (const [, target] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // http:, https:, mailto:
        const [where, anchor] = target!.split('#') as [string, string | undefined];
        const linked = where === '' ? file : path.join(path.dirname(file), where);
        if (!existsSync(linked)) broken.push(`${file}: ${target}`);
        else if (anchor !== undefined && linked.endsWith('.md') && !anchors(read(linked)).has(anchor))
          broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).to.deep.equal([]);
  });

  it('names only source paths that exist', () => {
    const missing = DOCS.flatMap((file) =>
      [...read(file).matchAll(/`((?:server|protocol|client-demo|deploy|scripts|test)\/[^`*{}<>\s]+)`/g)]
        .map((m) => m[1]!)
        .filter((p) => !existsSync(p))
        .map((p) => `${file}: ${p}`),
    );
    expect(missing).to.deep.equal([]);
  });

  it('keeps the README to a page, and the documents free of commit hashes, issue numbers and project jargon', () => {
    expect(read('README.md').split('\n').length).to.be.below(300);
    const jargon = DOCS.flatMap((file) =>
      read(file)
        .split('\n')
        .flatMap((line, i) => {
          const found = line.match(
            /(?<!--)\bseeds?\b|\bissues? #?\d+|#\d+\b|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b/i,
          );
          return found ? [`${file}:${i + 1}: ${found[0]}`] : [];
        }),
    );
    expect(jargon).to.deep.equal([]);
  });
});
