import type { Router } from '@koa/router';
import { RelayError } from '../../errors.js';
import { invalidUserIdReason } from '../../auth/authenticator.js';
import { invalidDestinationReason, isBrokerDestination } from '../../destinations/destinations.js';
import type { Payload } from '../../messaging/payload.js';
import type { HeaderMap } from '../../messaging/template.js';
import type { HttpDeps } from '../http-deps.js';
import { readJsonObject } from '../json-body.js';

function field<T>(body: Record<string, unknown>, name: string, check: (v: unknown) => v is T, what: string): T {
  const value = body[name];
  if (value === undefined) throw new RelayError('BAD_REQUEST', `missing field "${name}"`);
  if (!check(value)) throw new RelayError('BAD_REQUEST', `field "${name}" must be ${what}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isPayload = (v: unknown): v is Payload => v !== undefined;
const isHeaderMap = (v: unknown): v is HeaderMap =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.entries(v).every(
    ([k, x]) => /^[A-Za-z0-9_.-]{1,128}$/.test(k) && ['string', 'number', 'boolean'].includes(typeof x),
  );

function optionalHeaders(body: Record<string, unknown>): HeaderMap | undefined {
  return body.headers === undefined
    ? undefined
    : field(body, 'headers', isHeaderMap, 'an object of header names to strings');
}

/** `/api/**`: convertAndSendToUser and convertAndSend for backend systems, and document presence. */
export function apiRoutes(api: Router, deps: HttpDeps): void {
  const limit = deps.config.maxHttpBodyBytes;

  api.post('/users/:userId/messages', async (ctx) => {
    const userId = ctx.params.userId ?? '';
    const badUser = invalidUserIdReason(userId);
    if (badUser) throw new RelayError('BAD_REQUEST', badUser);
    await deps.pressure?.whenOpen();
    const body = await readJsonObject(ctx, limit);
    const destination = field(body, 'destination', isString, 'a string such as /queue/chat');
    const bad = invalidDestinationReason(destination);
    if (bad) throw new RelayError('BAD_REQUEST', `invalid destination: ${bad}`);
    const payload = field(body, 'body', isPayload, 'any JSON value');
    const headers = optionalHeaders(body);
    const id = `api-${crypto.randomUUID()}`;
    const status = await deps.template
      .convertAndSendToUser(userId, destination, payload, headers, { id })
      .catch((err: unknown) => {
        throw new RelayError('NOT_ACCEPTED', 'the message could not be accepted; retry later', true, { cause: err });
      });
    ctx.status = 202;
    ctx.body = { id, status };
  });

  api.post('/broadcast', async (ctx) => {
    await deps.pressure?.whenOpen();
    const body = await readJsonObject(ctx, limit);
    const destination = field(body, 'destination', isString, 'a string such as /topic/news');
    const bad = invalidDestinationReason(destination);
    if (bad) throw new RelayError('BAD_REQUEST', `invalid destination: ${bad}`);
    if (!isBrokerDestination(destination))
      throw new RelayError('BAD_REQUEST', 'destination must start with /topic/ or /queue/');
    const payload = field(body, 'body', isPayload, 'any JSON value');
    const headers = optionalHeaders(body);
    await deps.template.convertAndSend(destination, payload, headers).catch((err: unknown) => {
      throw new RelayError('NOT_ACCEPTED', 'the message could not be accepted; retry later', true, { cause: err });
    });
    ctx.status = 202;
    ctx.body = { status: 'accepted' };
  });

  api.get('/docs/:docId/presence', async (ctx) => {
    const docId = ctx.params.docId ?? '';
    if (docId.length === 0 || docId.length > 256) throw new RelayError('BAD_REQUEST', 'invalid document id');
    const users = await deps.registry.presence(docId);
    ctx.body = { docId, users };
  });
}
