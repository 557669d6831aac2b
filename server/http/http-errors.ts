import type Koa from 'koa';
import { RelayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** The one place an error becomes an HTTP answer: `{ error: { code, message } }`, never a stack trace. */
export function errorBoundary(log: Logger, metrics: Metrics): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined)
        throw new RelayError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
    } catch (err) {
      const error =
        err instanceof RelayError ? err : new RelayError('INTERNAL', 'internal error', false, { cause: err });
      if (error.code === 'INTERNAL') log.error({ err }, 'http request failed');
      metrics.errors.inc({ code: error.code });
      ctx.status = error.httpStatus;
      ctx.body = { error: { code: error.code, message: error.expose ? error.message : 'internal error' } };
    }
  };
}
