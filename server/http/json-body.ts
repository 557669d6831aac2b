import type Koa from 'koa';
import { RelayError } from '../errors.js';

/**
 * Reads a JSON request body: 415 unless `application/json`, 413 past `limitBytes` (checked while
 * reading, so a large body is never held), 400 for invalid JSON or a non-object.
 */
export async function readJsonObject(ctx: Koa.Context, limitBytes: number): Promise<Record<string, unknown>> {
  if (!ctx.is('application/json')) {
    throw new RelayError('UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
  }
  const declared = Number(ctx.get('content-length') || NaN);
  if (declared > limitBytes) throw new RelayError('BODY_TOO_LARGE', `the body is larger than ${limitBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      ctx.req.resume();
      throw new RelayError('BODY_TOO_LARGE', `the body is larger than ${limitBytes} bytes`);
    }
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new RelayError('BAD_JSON', 'the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RelayError('BAD_REQUEST', 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
