import http from 'node:http';
import { expect } from 'chai';

/** An HTTP answer, read whole. `json` is the parsed body when it is JSON, else undefined. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  readonly json: unknown;
}

export interface RequestOptions {
  /** Sent as the body with `content-type: application/json` unless `type` says otherwise. */
  readonly json?: unknown;
  /** A raw body (a string or bytes), sent as it is. */
  readonly raw?: string | Buffer;
  /** The content-type header; `null` sends none. */
  readonly type?: string | null;
  /** `Authorization: Bearer <token>`. */
  readonly token?: string;
  readonly headers?: Record<string, string>;
  /** Sends the body in chunks without a content-length (chunked transfer encoding). */
  readonly chunked?: boolean;
}

/**
 * One request with node:http (not fetch), so a test controls every header: no content-type, a
 * chunked body, a content-length the body does not keep.
 */
export function request(base: string, method: string, path: string, options: RequestOptions = {}): Promise<HttpAnswer> {
  const body = options.raw ?? (options.json === undefined ? undefined : JSON.stringify(options.json));
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  const type = options.type === undefined ? (body === undefined ? null : 'application/json') : options.type;
  if (type !== null) headers['content-type'] = type;
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (body !== undefined && !options.chunked) headers['content-length'] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        if (/json/.test(res.headers['content-type'] ?? '')) json = JSON.parse(text);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (body === undefined) {
      req.end();
    } else if (options.chunked) {
      // Several writes, so the server sees the body arrive in pieces and must count as it reads.
      const bytes = Buffer.from(body);
      for (let i = 0; i < bytes.length; i += 64) req.write(bytes.subarray(i, i + 64));
      req.end();
    } else {
      req.end(body);
    }
  });
}

export const get = (base: string, path: string, options: RequestOptions = {}) => request(base, 'GET', path, options);
export const post = (base: string, path: string, json: unknown, options: RequestOptions = {}) =>
  request(base, 'POST', path, { json, ...options });

/** A user message through the API: `POST /api/users/{user}/messages`. */
export function pushToUser(
  base: string,
  user: string,
  message: { destination: string; body: unknown; headers?: Record<string, unknown> },
  options: RequestOptions = {},
) {
  return post(base, `/api/users/${encodeURIComponent(user)}/messages`, message, options);
}

/** What a stack trace or an internal detail would look like in a body. */
const LEAK = /\n\s+at |\bat [\w.<>]+ \(|\.ts:\d+|\.js:\d+|node_modules|file:\/\/|Error:/;

/**
 * Asserts SPEC §6's error answer: `status`, JSON `{ error: { code, message } }` and nothing else,
 * no stack trace, no file names.
 */
export function expectError(res: HttpAnswer, status: number, code: string): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.headers['content-type']).to.match(/^application\/json/);
  expect(res.json).to.be.an('object').with.all.keys('error');
  const error = (res.json as { error: unknown }).error;
  expect(error).to.be.an('object').with.all.keys('code', 'message');
  expect(error).to.have.property('code', code);
  expect((error as { message: unknown }).message)
    .to.be.a('string')
    .and.not.equal('');
  expect(res.text).not.to.match(LEAK);
}

/** The parsed JSON body, typed by the caller. */
export function jsonOf<T>(res: HttpAnswer): T {
  return res.json as T;
}
