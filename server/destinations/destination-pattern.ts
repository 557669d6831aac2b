import type { Destination } from '../ids.js';

/** Longest pattern accepted; with the regex checks below it keeps `{var:regex}` from being a ReDoS vector. */
export const MAX_PATTERN_LENGTH = 256;
/** Longest regex inside one `{var:regex}`. */
export const MAX_VARIABLE_REGEX_LENGTH = 64;
/** Compiled patterns kept; the oldest is evicted beyond this. */
export const PATTERN_CACHE_SIZE = 1000;

/** A pattern that cannot be compiled: too long, unbalanced `{}`, or a rejected `{var:regex}`. */
export class DestinationPatternError extends Error {
  override readonly name = 'DestinationPatternError';
  constructor(
    readonly pattern: string,
    /** What is wrong with it, without the pattern (for messages that name it their own way). */
    readonly reason: string,
  ) {
    super(`invalid destination pattern ${JSON.stringify(pattern.slice(0, 80))}: ${reason}`);
  }
}

/** Tests whether a concrete destination matches a compiled pattern. Pure, no allocation per call beyond a split. */
export type DestinationMatcher = (destination: Destination) => boolean;

/**
 * True when `d` is an Ant-style pattern rather than a plain destination: it contains `*`, `?`
 * or `{` (Spring's `AntPathMatcher.isPattern`).
 */
export function isPattern(d: string): boolean {
  return d.includes('*') || d.includes('?') || d.includes('{');
}

/** One `/`-separated segment of a pattern: a literal (`**` among them, matching any run), or a regex for one segment. */
type SegmentMatcher = string | RegExp;

const cache = new Map<string, DestinationMatcher>();

/**
 * Compiles `pattern` with Spring's `AntPathMatcher` rules, `/` as separator: `?` matches one
 * character, `*` zero or more characters within a segment, `**` (a whole segment) zero or more
 * segments, `{var}` one segment's text and `{var:regex}` one segment's text matching `regex`.
 * A destination without pattern syntax matches only itself. Segments are compared one to one
 * (empty segments count), so `/topic/**` matches `/topic` and `/topic/a/b`, `/topic/*` does not
 * match `/topic/a/b`.
 *
 * Compiled matchers are cached (bounded). Throws `DestinationPatternError` for a pattern longer
 * than `MAX_PATTERN_LENGTH`, unbalanced braces, or a `{var:regex}` that is invalid, too long, or
 * has nested quantifiers or backreferences (the shapes that backtrack catastrophically).
 */
export function compilePattern(pattern: string): DestinationMatcher {
  const cached = cache.get(pattern);
  if (cached) return cached;
  const matcher = build(pattern);
  if (cache.size >= PATTERN_CACHE_SIZE) {
    // Maps iterate in insertion order: the first key is the oldest.
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(pattern, matcher);
  return matcher;
}

function build(pattern: string): DestinationMatcher {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new DestinationPatternError(pattern, `longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  if (!isPattern(pattern)) return (d) => d === pattern;
  const segments = pattern.split('/').map((s) => compileSegment(pattern, s));
  return (d) => matchSegments(segments, d.split('/'));
}

function compileSegment(pattern: string, segment: string): SegmentMatcher {
  if (segment === '**') return '**';
  if (!isPattern(segment)) return segment;
  let source = '';
  let literal = '';
  const flush = (): void => {
    source += escapeRegex(literal);
    literal = '';
  };
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '*') {
      flush();
      source += '.*';
    } else if (c === '?') {
      flush();
      source += '.';
    } else if (c === '{') {
      flush();
      const end = closingBrace(segment, i);
      if (end < 0) throw new DestinationPatternError(pattern, `unbalanced "{" in segment ${JSON.stringify(segment)}`);
      const body = segment.slice(i + 1, end);
      const colon = body.indexOf(':');
      source += colon < 0 ? '.*' : `(?:${checkedVariableRegex(pattern, body.slice(colon + 1))})`;
      i = end;
    } else if (c === '}') {
      throw new DestinationPatternError(pattern, `unbalanced "}" in segment ${JSON.stringify(segment)}`);
    } else {
      literal += c;
    }
  }
  flush();
  try {
    // `s`: Spring's default variable pattern is `(?s).*`, so `*` and `{var}` also span newlines.
    return new RegExp(`^(?:${source})$`, 's');
  } catch (err) {
    throw new DestinationPatternError(pattern, `not a valid regular expression (${(err as Error).message})`);
  }
}

/** Index of the `}` closing the `{` at `open`, allowing nested `{n,m}` quantifiers in a regex. */
function closingBrace(segment: string, open: number): number {
  let depth = 0;
  for (let i = open; i < segment.length; i++) {
    const c = segment[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

/**
 * Rejects the commonest regex shapes that make a backtracking engine exponential: a quantified
 * group that itself contains a quantifier (`(a+)+`, `(\w*)*`) and backreferences. Overlapping
 * alternations under a quantifier (`(a|aa)*`) are not detected; the length limits bound those.
 */
function checkedVariableRegex(pattern: string, regex: string): string {
  if (regex.length > MAX_VARIABLE_REGEX_LENGTH) {
    throw new DestinationPatternError(pattern, `variable regex longer than ${MAX_VARIABLE_REGEX_LENGTH} characters`);
  }
  const groupHasQuantifier: boolean[] = [];
  let lastGroupHadQuantifier = false;
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i];
    const afterGroup = lastGroupHadQuantifier;
    lastGroupHadQuantifier = false;
    if (c === '\\') {
      const next = regex[i + 1] ?? '';
      if (/[1-9k]/.test(next)) throw new DestinationPatternError(pattern, 'backreferences are not allowed');
      i++;
    } else if (c === '[') {
      // Skip the class: quantifier characters inside it are literals.
      i++;
      while (i < regex.length && regex[i] !== ']') {
        if (regex[i] === '\\') i++;
        i++;
      }
    } else if (c === '(') {
      groupHasQuantifier.push(false);
    } else if (c === ')') {
      lastGroupHadQuantifier = groupHasQuantifier.pop() ?? false;
    } else if (c === '*' || c === '+' || c === '{') {
      if (afterGroup)
        throw new DestinationPatternError(pattern, 'nested quantifiers are not allowed in a variable regex');
      if (groupHasQuantifier.length > 0) groupHasQuantifier.fill(true);
    }
  }
  return regex;
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

function matchSegment(m: SegmentMatcher, segment: string): boolean {
  return typeof m === 'string' ? m === segment : m.test(segment);
}

/**
 * Glob matching over segments with `**` as the wildcard: remember the last `**` and where it
 * started, and on a mismatch let it swallow one more segment. Linear in practice, O(n·m) worst case.
 */
function matchSegments(pattern: readonly SegmentMatcher[], path: readonly string[]): boolean {
  let p = 0;
  let d = 0;
  let starP = -1;
  let starD = 0;
  while (d < path.length) {
    const m = pattern[p];
    if (m === '**') {
      starP = p++;
      starD = d;
    } else if (m !== undefined && matchSegment(m, path[d] ?? '')) {
      p++;
      d++;
    } else if (starP >= 0) {
      p = starP + 1;
      d = ++starD;
    } else {
      return false;
    }
  }
  while (pattern[p] === '**') p++;
  return p === pattern.length;
}
