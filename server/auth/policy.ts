import { readFileSync } from 'node:fs';
import { compilePattern, DestinationPatternError, isPattern } from '../destinations/destination-pattern.js';
import { ConfigError } from '../config.js';
import type { Destination } from '../ids.js';
import { encodeUserName } from '../destinations/destinations.js';
import type { Principal } from './authenticator.js';

/** What a client asks to do with a destination. */
export type PolicyAction = 'send' | 'subscribe';

/** A policy's answer; a denial's `reason` ends up in the ERROR frame's `message`. */
export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/**
 * Which principal may SEND to and SUBSCRIBE to which destination (SPEC §7, issue 5), asked the way
 * Spring Security's message interceptor is: before a SEND takes effect (inside a transaction: at
 * COMMIT) and before a SUBSCRIBE is registered. A denial ends the session with an ERROR frame
 * (`FORBIDDEN`, close 1008). Destinations without a known prefix are never asked about: the node
 * drops them silently, as Spring does, so they have no effect to authorize.
 *
 * One implementation, RuleListPolicy; the interface is the seam a deployment with its own
 * authorization service would implement.
 */
export interface DestinationPolicy {
  /**
   * Decides synchronously and never throws. `destination` has passed `invalidDestinationReason`.
   * A SEND destination is a concrete string, even when it contains `*`; a SUBSCRIBE destination
   * may be an Ant-style pattern, and is allowed only when every destination it can match is.
   */
  check(action: PolicyAction, principal: Principal, destination: Destination): Decision;
}

/** One rule of a policy file. The first rule whose actions, users and destination match decides. */
export interface PolicyRule {
  readonly effect: 'allow' | 'deny';
  readonly actions: readonly PolicyAction[];
  /** Ant-style pattern (`*`, `**`, `?`, `{var}`); the whole segment `{user}` is the principal's own name. */
  readonly destination: string;
  /** Only these principals (by name); absent means everyone. */
  readonly users?: readonly string[];
}

/** The rules in force without AUTHZ_POLICY: Spring's prefixes, nothing else. */
export const DEFAULT_RULES: readonly PolicyRule[] = Object.freeze([
  { effect: 'allow', actions: ['send', 'subscribe'], destination: '/app/**' },
  { effect: 'allow', actions: ['send', 'subscribe'], destination: '/topic/**' },
  { effect: 'allow', actions: ['send', 'subscribe'], destination: '/queue/**' },
  { effect: 'allow', actions: ['send', 'subscribe'], destination: '/user/**' },
]);

/** A destination segment as the matcher sees it. */
type Segment =
  /** `**`: zero or more whole segments. */
  | { readonly kind: 'many' }
  | { readonly kind: 'literal'; readonly text: string }
  /** A wildcard inside one segment; `any` when it matches every segment text (`*`, `{var}`). */
  | { readonly kind: 'one'; readonly test: (segment: string) => boolean; readonly any: boolean }
  /** `{user}` in a rule: the principal's name, encoded as in `/user/{name}` (`/` as `%2F`). */
  | { readonly kind: 'user' };

type Resolved = Exclude<Segment, { kind: 'user' }>;

const MANY: Resolved = { kind: 'many' };
const ANY_ONE: Resolved = { kind: 'one', test: () => true, any: true };
const ALLOW: Decision = Object.freeze({ allowed: true });

/** The document areas of SPEC §5: `/topic/docs/{docId}/**` and `/user/{docId}/queue/**`. */
const TOPIC_DOCS: readonly Resolved[] = [lit(''), lit('topic'), lit('docs'), ANY_ONE, MANY];
// As docOfUserDestination: `/user/queue/...` and `/user/topic/...` name no document.
const USER_DOC: Resolved = { kind: 'one', test: (s) => s !== 'queue' && s !== 'topic', any: false };
const USER_DOCS: readonly Resolved[] = [lit(''), lit('user'), USER_DOC, lit('queue'), MANY];

interface CompiledRule {
  readonly index: number;
  readonly effect: 'allow' | 'deny';
  readonly actions: ReadonlySet<PolicyAction>;
  readonly users: ReadonlySet<string> | undefined;
  readonly segments: readonly Segment[];
  readonly perUser: boolean;
}

/**
 * Rules in order, first match wins, no match denies. Before the rules, document admission: a
 * principal carrying `docs` (the JWT `docs` claim) may subscribe to `/topic/docs/{docId}/**` and
 * `/user/{docId}/queue/**`, and send to `/topic/docs/{docId}/**`, only for those documents; a
 * subscription pattern that could reach any other document is denied. A principal without `docs`
 * (dev mode, or a token without the claim) is admitted to every document.
 *
 * For a SUBSCRIBE pattern the comparison is conservative: an allow rule decides only when it
 * covers every destination the pattern can match, a deny rule as soon as it may share one.
 */
export class RuleListPolicy implements DestinationPolicy {
  private readonly rules: readonly CompiledRule[];

  /** Throws PolicyRuleError (with the rule's index) for a rule that cannot be compiled. */
  constructor(rules: readonly PolicyRule[]) {
    this.rules = rules.map((rule, index) => compileRule(rule, index));
  }

  static defaults(): RuleListPolicy {
    return new RuleListPolicy(DEFAULT_RULES);
  }

  /** Reads and validates AUTHZ_POLICY; any problem is a ConfigError naming it (exit code 2). */
  static fromFile(path: string): RuleListPolicy {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(
        'AUTHZ_POLICY',
        `${JSON.stringify(path)} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ConfigError('AUTHZ_POLICY', `${JSON.stringify(path)} is not valid JSON (${(err as Error).message})`);
    }
    try {
      return new RuleListPolicy(parsePolicy(json));
    } catch (err) {
      if (err instanceof PolicyRuleError)
        throw new ConfigError('AUTHZ_POLICY', `${JSON.stringify(path)}: ${err.message}`);
      throw err;
    }
  }

  check(action: PolicyAction, principal: Principal, destination: Destination): Decision {
    const target = segmentsOf(destination, action);
    const docDenial = principal.docs === undefined ? undefined : documentDenial(action, principal.docs, target);
    if (docDenial !== undefined) return { allowed: false, reason: docDenial };
    for (const rule of this.rules) {
      if (!rule.actions.has(action)) continue;
      if (rule.users !== undefined && !rule.users.has(principal.name)) continue;
      const pattern = rule.perUser
        ? resolveUser(rule.segments, principal.name)
        : (rule.segments as readonly Resolved[]);
      if (rule.effect === 'allow') {
        if (covers(pattern, target)) return ALLOW;
      } else if (overlaps(pattern, target)) {
        return { allowed: false, reason: `denied by policy rule ${rule.index}` };
      }
    }
    return { allowed: false, reason: 'no policy rule allows it' };
  }
}

/** A policy file that does not say what it must; `message` names the rule. */
export class PolicyRuleError extends Error {
  override readonly name = 'PolicyRuleError';
}

// ---- the policy file --------------------------------------------------------------------------

const RULE_KEYS = new Set(['effect', 'actions', 'destination', 'users']);

/** `{ "rules": [ { "effect", "actions", "destination", "users"? }, ... ] }`, nothing else. */
function parsePolicy(json: unknown): PolicyRule[] {
  if (!isObject(json) || !Array.isArray(json.rules))
    throw new PolicyRuleError('expected an object with a "rules" array');
  const unknown = Object.keys(json).filter((k) => k !== 'rules');
  if (unknown.length > 0) throw new PolicyRuleError(`unknown key ${JSON.stringify(unknown[0])} (only "rules")`);
  return json.rules.map((rule: unknown, i: number): PolicyRule => {
    const where = `rules[${i}]`;
    if (!isObject(rule)) throw new PolicyRuleError(`${where} is not an object`);
    const extra = Object.keys(rule).find((k) => !RULE_KEYS.has(k));
    if (extra !== undefined) throw new PolicyRuleError(`${where}: unknown key ${JSON.stringify(extra)}`);
    const { effect, actions, destination, users } = rule;
    if (effect !== 'allow' && effect !== 'deny') throw new PolicyRuleError(`${where}.effect must be "allow" or "deny"`);
    if (!Array.isArray(actions) || actions.length === 0 || !actions.every((a) => a === 'send' || a === 'subscribe')) {
      throw new PolicyRuleError(`${where}.actions must be a non-empty array of "send" and "subscribe"`);
    }
    if (typeof destination !== 'string') throw new PolicyRuleError(`${where}.destination must be a string`);
    if (users !== undefined && (!Array.isArray(users) || !users.every((u) => typeof u === 'string'))) {
      throw new PolicyRuleError(`${where}.users must be an array of user names`);
    }
    return {
      effect,
      actions: actions as PolicyAction[],
      destination,
      ...(users !== undefined ? { users: users } : {}),
    };
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function compileRule(rule: PolicyRule, index: number): CompiledRule {
  const where = `rules[${index}].destination ${JSON.stringify(rule.destination)}`;
  if (!rule.destination.startsWith('/')) throw new PolicyRuleError(`${where} must start with /`);
  const parts = rule.destination.split('/');
  for (const part of parts) {
    if (part.includes('{user') && part !== '{user}')
      throw new PolicyRuleError(`${where}: {user} must be a whole segment`);
  }
  try {
    compilePattern(rule.destination); // the node's own pattern rules: length, braces, safe regexes
  } catch (err) {
    if (err instanceof DestinationPatternError) throw new PolicyRuleError(`${where}: ${err.message}`);
    throw err;
  }
  const segments = parts.map((part): Segment => (part === '{user}' ? { kind: 'user' } : patternSegment(part)));
  return {
    index,
    effect: rule.effect,
    actions: new Set(rule.actions),
    users: rule.users === undefined ? undefined : new Set(rule.users),
    segments,
    perUser: segments.some((s) => s.kind === 'user'),
  };
}

// ---- matching ---------------------------------------------------------------------------------

function lit(text: string): Resolved {
  return { kind: 'literal', text };
}

/** A pattern's segment; compilePattern of one segment is a matcher for one segment's text. */
function patternSegment(part: string): Resolved {
  if (part === '**') return MANY;
  if (!isPattern(part)) return lit(part);
  return { kind: 'one', test: compilePattern(part), any: /^(\*+|\{[^{}:]*\})$/.test(part) };
}

/**
 * A SEND destination is literal text. A SUBSCRIBE destination is a pattern; a segment the
 * matcher refuses counts as "could be anything" here (the SUBSCRIBE fails on it right after).
 */
function segmentsOf(destination: Destination, action: PolicyAction): readonly Resolved[] {
  const parts = destination.split('/');
  if (action === 'send' || !isPattern(destination)) return parts.map(lit);
  return parts.map((part) => {
    try {
      return patternSegment(part);
    } catch {
      return { kind: 'one', test: () => true, any: false };
    }
  });
}

function resolveUser(segments: readonly Segment[], name: string): Resolved[] {
  const own = lit(encodeUserName(name));
  return segments.map((s) => (s.kind === 'user' ? own : s));
}

/** Can one concrete segment text match both? Two wildcards are assumed to share one. */
function segmentsOverlap(a: Resolved, b: Resolved): boolean {
  if (a.kind === 'literal' && b.kind === 'literal') return a.text === b.text;
  if (a.kind === 'literal' && b.kind === 'one') return b.test(a.text);
  if (a.kind === 'one' && b.kind === 'literal') return a.test(b.text);
  return true;
}

/** Does `rule` match every segment text `target` matches? Only when sure. */
function segmentCovers(rule: Resolved, target: Resolved): boolean {
  if (rule.kind === 'literal') return target.kind === 'literal' && target.text === rule.text;
  if (rule.kind === 'one')
    return target.kind === 'literal' ? rule.test(target.text) : target.kind === 'one' && rule.any;
  return false;
}

/**
 * True when some destination may match both `a` and `b` (over-approximated: wildcard segments are
 * assumed to intersect). Memoised over (i, j), so O(|a|·|b|) whatever the `**`s.
 */
function overlaps(a: readonly Resolved[], b: readonly Resolved[]): boolean {
  const width = b.length + 1;
  const memo = new Uint8Array((a.length + 1) * width);
  const go = (i: number, j: number): boolean => {
    const key = i * width + j;
    const known = memo[key];
    if (known) return known === 1;
    const x = a[i];
    const y = b[j];
    let result: boolean;
    if (x === undefined && y === undefined) result = true;
    else if (x?.kind === 'many') result = go(i + 1, j) || (y !== undefined && go(i, j + 1));
    else if (y?.kind === 'many') result = go(i, j + 1) || (x !== undefined && go(i + 1, j));
    else if (x === undefined || y === undefined) result = false;
    else result = segmentsOverlap(x, y) && go(i + 1, j + 1);
    memo[key] = result ? 1 : 2;
    return result;
  };
  return go(0, 0);
}

/**
 * True when every destination `target` matches also matches `rule` (under-approximated: only a
 * rule `**` absorbs a target `**`, only an any-text wildcard covers a target wildcard).
 */
function covers(rule: readonly Resolved[], target: readonly Resolved[]): boolean {
  const width = target.length + 1;
  const memo = new Uint8Array((rule.length + 1) * width);
  const go = (i: number, j: number): boolean => {
    const key = i * width + j;
    const known = memo[key];
    if (known) return known === 1;
    const r = rule[i];
    const t = target[j];
    let result: boolean;
    if (r === undefined) result = t === undefined;
    else if (r.kind === 'many') result = go(i + 1, j) || (t !== undefined && go(i, j + 1));
    else if (t === undefined || t.kind === 'many') result = false;
    else result = segmentCovers(r, t) && go(i + 1, j + 1);
    memo[key] = result ? 1 : 2;
    return result;
  };
  return go(0, 0);
}

/** Document admission (SPEC §5 areas); the denial's reason, or undefined when admitted. */
function documentDenial(
  action: PolicyAction,
  docs: readonly string[],
  target: readonly Resolved[],
): string | undefined {
  const areas =
    action === 'send'
      ? [{ area: TOPIC_DOCS, at: 3 }]
      : [
          { area: TOPIC_DOCS, at: 3 },
          { area: USER_DOCS, at: 2 },
        ];
  for (const { area, at } of areas) {
    if (!overlaps(area, target)) continue;
    const admitted = docs.some((doc) =>
      covers(
        area.map((s, i) => (i === at ? lit(doc) : s)),
        target,
      ),
    );
    if (admitted) continue;
    const named = target[at];
    return named?.kind === 'literal' && target.slice(0, at).every((s) => s.kind === 'literal')
      ? `document ${JSON.stringify(named.text.slice(0, 64))} is not among the principal's docs`
      : "the pattern may reach documents outside the principal's docs";
  }
  return undefined;
}
