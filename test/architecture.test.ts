import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** STYLE 3.1's dependency rules, checked on the import lines of every source file. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
}

describe('architecture', () => {
  it('keeps protocol/ free of I/O and of the server', () => {
    const banned = /^(node:(net|http|https|fs|dgram|child_process|worker_threads)|ws|ioredis|amqplib|koa|@koa\/router|sockjs|pino)$|\/server\//;
    const offenders = sources('protocol').flatMap((f) => imports(f).filter((i) => banned.test(i)).map((i) => `${f}: ${i}`));
    expect(offenders).to.deep.equal([]);
  });

  it('lets only node.ts construct Redis- and RabbitMQ-backed classes; messaging/ sees interfaces only', () => {
    const backed = /(redis-registry|redis-offline-store|redis-history|redis-doc-states|rabbit-broker|memory-broker|memory-registry|memory-offline-store|memory-history|memory-doc-states)\.js$|^(ioredis|amqplib)$/;
    const offenders = sources('server')
      .filter((f) => !f.endsWith(path.join('server', 'node.ts')) && !/server\/(registry|store|broker|redis|history|yjs)\//.test(f))
      .flatMap((f) => imports(f).filter((i) => backed.test(i)).map((i) => `${f}: ${i}`));
    expect(offenders).to.deep.equal([]);
  });

  it('keeps client/ to @stomp/stompjs types and its own files, so it runs in a browser', () => {
    // The Yjs provider also takes the libraries every Yjs provider is built on (the page's own copies).
    const yjsLibraries = /^(yjs|y-protocols\/awareness|lib0\/observable)$/;
    const offenders = sources('client').flatMap((f) =>
      imports(f)
        .filter((i) => !i.startsWith('./') && i !== '@stomp/stompjs' && !(f.endsWith('yjs-provider.ts') && yjsLibraries.test(i)))
        .map((i) => `${f}: ${i}`),
    );
    expect(offenders).to.deep.equal([]);
    const runtime = sources('client').filter((f) => /^import (?!type)[^;]*'@stomp\/stompjs'/m.test(readFileSync(f, 'utf8')));
    expect(runtime, 'only `import type` from @stomp/stompjs: the page brings its own copy').to.deep.equal([]);
  });

  it('never imports test code from the product', () => {
    const offenders = [...sources('server'), ...sources('protocol'), ...sources('client')].flatMap((f) =>
      imports(f).filter((i) => i.includes('/test/')).map((i) => `${f}: ${i}`),
    );
    expect(offenders).to.deep.equal([]);
  });

  it('has no import cycles in server/, protocol/ or client/, type-only imports included', () => {
    const files = [...sources('server'), ...sources('protocol'), ...sources('client')];
    const edges = new Map(files.map((f) => [f, imports(f).filter((i) => i.startsWith('.')).map((i) => path.join(path.dirname(f), i).replace(/\.js$/, '.ts'))]));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const trail: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'open');
      trail.push(f);
      for (const next of edges.get(f) ?? []) {
        if (!edges.has(next)) continue;
        if (state.get(next) === 'open') cycles.push([...trail.slice(trail.indexOf(next)), next].join(' -> '));
        else if (!state.has(next)) visit(next);
      }
      trail.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).to.deep.equal([]);
  });
});
