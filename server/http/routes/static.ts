import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type Koa from 'koa';
import { packageRoot } from '../../package-info.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.map': 'application/json',
};

/**
 * Serves client-demo/ at `/`, STOMP.js's browser bundle from its npm package and the demo's own
 * bundle from dist/browser (no CDN: SPEC §2).
 * Only files that exist at start-up are served: a fixed map, so no path can escape the folder.
 */
export function staticFiles(onMissing: (message: string) => void = () => {}): Koa.Middleware {
  const root = path.join(packageRoot(), 'client-demo');
  const files = new Map<string, string>();
  const walk = (dir: string, prefix: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      // src/ is the bundle's source (TypeScript), not for the browser.
      const bundleSource = prefix === '' && name === 'src';
      if (!statSync(full).isDirectory()) files.set(`/${prefix}${name}`, full);
      else if (!bundleSource) walk(full, `${prefix}${name}/`);
    }
  };
  walk(root, '');
  const require = createRequire(import.meta.url);
  try {
    // The package's `exports` resolve its main entry to bundles/stomp.umd.js.
    const bundles = path.dirname(require.resolve('@stomp/stompjs'));
    for (const name of ['stomp.umd.min.js', 'stomp.umd.js']) {
      if (existsSync(path.join(bundles, name))) files.set(`/vendor/${name}`, path.join(bundles, name));
    }
  } catch (err) {
    onMissing(`@stomp/stompjs browser bundle not found: ${err instanceof Error ? err.message : String(err)}`);
  }
  // The demo's npm modules (resume helper, Yjs provider, CodeMirror), bundled by `npm run build`.
  const bundle = path.join(packageRoot(), 'dist', 'browser');
  for (const name of ['demo.js', 'demo.js.map']) {
    if (existsSync(path.join(bundle, name))) files.set(`/vendor/${name}`, path.join(bundle, name));
  }
  if (!files.has('/vendor/demo.js')) onMissing('the demo bundle dist/browser/demo.js is missing: run npm run build');
  if (files.has('/index.html')) files.set('/', files.get('/index.html')!);

  return async (ctx, next) => {
    const file = ctx.method === 'GET' || ctx.method === 'HEAD' ? files.get(ctx.path) : undefined;
    if (!file) {
      await next();
      return;
    }
    ctx.type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    ctx.set('cache-control', 'no-cache');
    ctx.body = createReadStream(file);
  };
}
