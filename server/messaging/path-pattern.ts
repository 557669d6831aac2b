/**
 * Spring's `@MessageMapping` path patterns (AntPathMatcher): `{var}` and `{var:regex}` capture one
 * segment, `*` matches within a segment, `**` any number of segments, `?` one character.
 */
export type PathMatcher = (path: string) => Record<string, string> | null;

const MAX_PATTERN_LENGTH = 512;

function escapeRegex(text: string): string {
  return text.replace(/[.+^$()|[\]\\]/g, '\\$&');
}

export function compilePathPattern(pattern: string): PathMatcher {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new Error(`pattern longer than ${MAX_PATTERN_LENGTH} characters`);
  const normalized = pattern.startsWith('/') ? pattern : `/${pattern}`;
  const names: string[] = [];
  const parts = normalized
    .split('/')
    .slice(1)
    .map((segment) => {
      if (segment === '**') return '(?:/[^/]*)*';
      let out = '';
      let i = 0;
      while (i < segment.length) {
        const ch = segment[i]!;
        if (ch === '{') {
          const end = segment.indexOf('}', i);
          if (end < 0) throw new Error(`unclosed { in pattern ${pattern}`);
          const [name = '', regex] = segment.slice(i + 1, end).split(/:(.*)/s, 2);
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`bad variable name in pattern ${pattern}`);
          names.push(name);
          out += regex !== undefined ? `(${regex})` : '([^/]+)';
          i = end + 1;
        } else if (ch === '*') {
          out += '[^/]*';
          i++;
        } else if (ch === '?') {
          out += '[^/]';
          i++;
        } else {
          out += escapeRegex(ch);
          i++;
        }
      }
      return `/${out}`;
    });
  const regex = new RegExp(`^${parts.join('')}$`);
  return (path) => {
    const m = regex.exec(path);
    if (!m) return null;
    const vars: Record<string, string> = {};
    names.forEach((name, k) => {
      vars[name] = m[k + 1] ?? '';
    });
    return vars;
  };
}
