/**
 * Summarizes `node --cpu-prof` profiles of product nodes: self time by function (mapped to the
 * TypeScript source through dist/'s source maps), self time by area (product folder, npm
 * package, Node internals, GC), and inclusive time of the product's own functions.
 * Also runnable alone: `tsx test/bench/profile-summary.ts file.cpuprofile…`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './processes.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  readonly name: string;
  readonly where: string;
  readonly ms: number;
  readonly pct: number;
}
export interface ProfileSummary {
  readonly file: string;
  readonly busyMs: number;
  readonly self: ProfileEntry[];
  readonly areas: ProfileEntry[];
  readonly inclusive: ProfileEntry[];
}

const maps = new Map<string, SourceMap | null>();

function sourceMapFor(file: string): SourceMap | null {
  let m = maps.get(file);
  if (m === undefined) {
    m = null;
    try {
      if (existsSync(`${file}.map`))
        m = new SourceMap(
          JSON.parse(readFileSync(`${file}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0],
        );
    } catch {
      m = null;
    }
    maps.set(file, m);
  }
  return m;
}

/** `server/relay/router.ts:87` for a dist frame, a shortened path otherwise. */
function where(cf: CallFrame): string {
  if (cf.url === '') return '';
  let file = cf.url;
  if (file.startsWith('file://')) file = fileURLToPath(file);
  if (file.startsWith(REPO_ROOT)) {
    const map = file.includes(`${path.sep}dist${path.sep}`) ? sourceMapFor(file) : null;
    const found = map?.findEntry(cf.lineNumber, cf.columnNumber);
    const entry = found && 'originalSource' in found ? found : undefined;
    if (entry?.originalSource) {
      const src = entry.originalSource.startsWith('file://')
        ? fileURLToPath(entry.originalSource)
        : path.resolve(path.dirname(file), entry.originalSource);
      return `${path.relative(REPO_ROOT, src)}:${(entry.originalLine ?? 0) + 1}`;
    }
    const rel = path.relative(REPO_ROOT, file);
    const nm = rel.lastIndexOf('node_modules/');
    return `${nm >= 0 ? rel.slice(nm + 'node_modules/'.length) : rel}:${cf.lineNumber + 1}`;
  }
  return `${file}:${cf.lineNumber + 1}`;
}

function area(cf: CallFrame): string {
  const name = cf.functionName;
  if (name === '(garbage collector)' || name === '(program)' || name === '(idle)' || name === '(root)') return name;
  const url = cf.url;
  if (url === '') return '(native / V8 builtins)';
  if (url.startsWith('node:')) return 'node core';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return `npm ${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const m = /\/(?:dist\/)?(server\/[^/]+|server|protocol)\//.exec(url);
  return m ? `product ${m[1]}` : 'other';
}

const IDLE = new Set(['(idle)', '(root)']);

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, { name: string; where: string; us: number }>();
  let busy = 0;
  const keyOf = (cf: CallFrame) => `${cf.functionName}|${cf.url}|${cf.lineNumber}`;
  // A sample stands for the time until the next one, but V8 samples wall-clock: while the process
  // is runnable and not running (all processes share two cores), the gap would land on whatever
  // frame was on the stack — typically a write that just woke another process. Capping each
  // sample at twice the usual interval makes the shares CPU-time shares.
  const sortedDeltas = [...profile.timeDeltas].sort((a, b) => a - b);
  const cap = 2 * (sortedDeltas[sortedDeltas.length >> 1] ?? 1000);
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    const us = Math.min(profile.timeDeltas[i + 1] ?? 0, cap);
    const node = byId.get(id);
    if (!node || IDLE.has(node.callFrame.functionName)) continue;
    busy += us;
    const cf = node.callFrame;
    const k = keyOf(cf);
    const s = self.get(k) ?? { name: cf.functionName || '(anonymous)', where: where(cf), us: 0 };
    s.us += us;
    self.set(k, s);
    const a = area(cf);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (!/\/(dist\/)?(server|protocol)\//.test(f.url) || f.url.includes('node_modules')) continue;
      const key = keyOf(f);
      if (seen.has(key)) continue;
      seen.add(key);
      const e = inclusive.get(key) ?? { name: f.functionName || '(anonymous)', where: where(f), us: 0 };
      e.us += us;
      inclusive.set(key, e);
    }
  }
  const entries = (list: Iterable<{ name: string; where: string; us: number }>) =>
    [...list]
      .sort((x, y) => y.us - x.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, ms: e.us / 1000, pct: (100 * e.us) / busy }));
  return {
    file,
    busyMs: busy / 1000,
    self: entries(self.values()),
    areas: entries([...areas].map(([name, us]) => ({ name, where: '', us }))),
    inclusive: entries(inclusive.values()),
  };
}

export function renderProfile(s: ProfileSummary): string {
  const rows = (list: readonly ProfileEntry[]) =>
    list
      .map(
        (e) =>
          `    ${e.pct.toFixed(1).padStart(5)} %  ${e.ms.toFixed(0).padStart(6)} ms  ${e.name}${e.where ? `  ${e.where}` : ''}`,
      )
      .join('\n');
  return [
    `  ${path.relative(REPO_ROOT, s.file)}: ${(s.busyMs / 1000).toFixed(1)} s busy (idle excluded; samples capped at 2× the sampling interval)`,
    '   self time by area:',
    rows(s.areas),
    '   self time by function:',
    rows(s.self),
    '   inclusive time, product functions:',
    rows(s.inclusive),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  for (const f of process.argv.slice(2)) process.stdout.write(`${renderProfile(summarizeProfile(f, 20))}\n\n`);
}
