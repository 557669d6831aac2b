import Koa from 'koa';
import { Router } from '@koa/router';
import { RelayError } from '../errors.js';
import type { HttpDeps } from './http-deps.js';
import { errorBoundary } from './http-errors.js';
import { apiRoutes } from './routes/api.js';
import { staticFiles } from './routes/static.js';
import { timingSafeEqual } from 'node:crypto';

export type { HttpDeps } from './http-deps.js';

/** The node's HTTP side (SPEC §6): the push API, health, readiness, metrics and the demo page. */
export function createHttpApp(deps: HttpDeps): Koa {
  const app = new Koa({ proxy: true });
  app.silent = true; // errors end in errorBoundary, logged there once
  app.use(errorBoundary(deps.log, deps.metrics));

  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok', node: deps.config.nodeId };
  });
  router.get('/readyz', (ctx) => {
    const ready = deps.isReady();
    ctx.status = ready ? 200 : 503;
    ctx.body = { ready, node: deps.config.nodeId, mode: deps.config.mode };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
  app.use(router.routes());
  app.use(router.allowedMethods());

  // Ahead of the router, so an unknown /api route without a token is 401 too, not 404/405.
  if (deps.config.apiToken !== undefined) app.use(bearerToken(deps.config.apiToken));
  const api = new Router({ prefix: '/api' });
  apiRoutes(api, deps);
  app.use(api.routes());
  app.use(
    api.allowedMethods({
      throw: true,
      methodNotAllowed: () => new RelayError('METHOD_NOT_ALLOWED', 'method not allowed'),
    }),
  );

  app.use(staticFiles((message) => deps.log.warn(message)));
  return app;
}

/** API_TOKEN: `Authorization: Bearer <token>`, compared in constant time. */
function bearerToken(token: string): Koa.Middleware {
  const expected = Buffer.from(token);
  return async (ctx, next) => {
    if (ctx.path !== '/api' && !ctx.path.startsWith('/api/')) {
      await next();
      return;
    }
    const given = Buffer.from(/^Bearer (.+)$/.exec(ctx.get('authorization'))?.[1] ?? '');
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    if (!ok) throw new RelayError('UNAUTHORIZED', 'a valid Authorization: Bearer token is required');
    await next();
  };
}
