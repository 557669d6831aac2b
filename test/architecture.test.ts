import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * STYLE 3.1's last dependency rule: no import cycles, type-only imports included (ESLint's
 * import-x/no-cycle skips those; the folder rules are lint rules in eslint.config.js).
 */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm),
    ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => m[1]!);
}

describe('architecture', () => {
  it('has no import cycles in server/, protocol/ or client/, type-only imports included', () => {
    const files = [...sources('server'), ...sources('protocol'), ...sources('client')];
    const edges = new Map(
      files.map((f) => [
        f,
        imports(f)
          .filter((i) => i.startsWith('.'))
          .map((i) => path.join(path.dirname(f), i).replace(/\.js$/, '.ts')),
      ]),
    );
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
