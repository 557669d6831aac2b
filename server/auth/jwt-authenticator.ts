import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  errors,
  importSPKI,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type JWTVerifyResult,
} from 'jose';
import { header } from '../../protocol/index.js';
import { ConfigError } from '../config.js';
import { RelayError } from '../errors.js';
import { invalidUserIdReason, type Authenticator, type ConnectRequest, type Principal } from './authenticator.js';

export interface JwtOptions {
  /** HS256 shared secret (JWT_SECRET). */
  readonly secret?: string;
  /** PEM public key, or a path to a PEM or JWKS file (JWT_PUBLIC_KEY): RS256 / ES256. */
  readonly publicKey?: string;
  /** Required `aud` (JWT_AUDIENCE). */
  readonly audience?: string;
  /** Required `iss` (JWT_ISSUER). */
  readonly issuer?: string;
}

type Verify = (token: string, options: JWTVerifyOptions) => Promise<JWTVerifyResult>;

/** jwtVerify has one overload per key kind; this picks it once, at start-up. */
function verifierFor(key: Uint8Array | CryptoKey | JWTVerifyGetKey): Verify {
  return typeof key === 'function' ? (t, o) => jwtVerify(t, key, o) : (t, o) => jwtVerify(t, key, o);
}

/**
 * AUTH_MODE=jwt: the token comes from the CONNECT `Authorization: Bearer …` header, the `passcode`
 * header, or the `access_token` query parameter of the WebSocket URL; `sub` is the user id; `exp`
 * ends the session; an optional `docs` array lists the documents the user may join (see
 * RuleListPolicy). Nothing is accepted without a valid token.
 */
export class JwtAuthenticator implements Authenticator {
  private constructor(
    private readonly verify: Verify,
    private readonly algorithms: string[],
    private readonly options: JwtOptions,
  ) {}

  /** Loads the key once at start-up; a key that cannot be read or parsed is a ConfigError. */
  static async create(options: JwtOptions): Promise<JwtAuthenticator> {
    if (options.secret !== undefined) {
      return new JwtAuthenticator(verifierFor(new TextEncoder().encode(options.secret)), ['HS256'], options);
    }
    const source = options.publicKey;
    if (source === undefined)
      throw new ConfigError('JWT_PUBLIC_KEY', 'AUTH_MODE=jwt needs JWT_SECRET or JWT_PUBLIC_KEY');
    let text = source;
    if (!source.includes('-----BEGIN')) {
      try {
        text = readFileSync(source, 'utf8');
      } catch {
        throw new ConfigError('JWT_PUBLIC_KEY', `${JSON.stringify(source)} is neither a PEM key nor a readable file`);
      }
    }
    if (text.trimStart().startsWith('{')) {
      let jwks: JSONWebKeySet;
      try {
        jwks = JSON.parse(text) as JSONWebKeySet;
      } catch {
        throw new ConfigError('JWT_PUBLIC_KEY', 'the JWKS file is not valid JSON');
      }
      return new JwtAuthenticator(verifierFor(createLocalJWKSet(jwks)), ['RS256', 'ES256'], options);
    }
    for (const alg of ['RS256', 'ES256']) {
      try {
        return new JwtAuthenticator(verifierFor(await importSPKI(text, alg)), [alg], options);
      } catch {
        // not a key of this algorithm; try the next
      }
    }
    throw new ConfigError('JWT_PUBLIC_KEY', 'not an RSA or EC (P-256) public key in PEM (SPKI) form');
  }

  async authenticate(request: ConnectRequest): Promise<Principal> {
    const token = tokenOf(request);
    if (token === undefined) throw new RelayError('AUTH_FAILED', 'authentication required: no token');
    let payload;
    try {
      ({ payload } = await this.verify(token, {
        algorithms: this.algorithms,
        ...(this.options.audience !== undefined ? { audience: this.options.audience } : {}),
        ...(this.options.issuer !== undefined ? { issuer: this.options.issuer } : {}),
      }));
    } catch (err) {
      throw new RelayError('AUTH_FAILED', `invalid token: ${reason(err)}`);
    }
    const sub = payload.sub;
    if (typeof sub !== 'string') throw new RelayError('AUTH_FAILED', 'invalid token: no sub claim');
    const bad = invalidUserIdReason(sub);
    if (bad) throw new RelayError('AUTH_FAILED', `invalid token: ${bad}`);
    const docs = payload.docs;
    if (docs !== undefined && (!Array.isArray(docs) || !docs.every((d): d is string => typeof d === 'string'))) {
      throw new RelayError('AUTH_FAILED', 'invalid token: the docs claim must be an array of document ids');
    }
    return {
      name: sub,
      anonymous: false,
      ...(payload.exp !== undefined ? { expiresAt: payload.exp * 1000 } : {}),
      ...(docs !== undefined ? { docs: Object.freeze([...docs]) } : {}),
    };
  }
}

function tokenOf(request: ConnectRequest): string | undefined {
  const auth = header(request, 'Authorization') ?? header(request, 'authorization');
  const bearer = auth !== undefined ? /^Bearer\s+(\S+)$/i.exec(auth)?.[1] : undefined;
  return bearer ?? (header(request, 'passcode') || undefined) ?? (request.query.get('access_token') || undefined);
}

/** What the client is told: the kind of failure, never the key or the token. */
function reason(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `${err.claim} claim check failed`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  return 'malformed or unverifiable';
}
