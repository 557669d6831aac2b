import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where the demo's browser bundle is written; the node serves it as /vendor/demo.js. */
export const DEMO_BUNDLE = path.join(ROOT, 'dist', 'browser', 'demo.js');

/** Bundles client-demo/src/vendor.ts (the helper, the Yjs provider, Yjs, CodeMirror) for the browser. */
export async function bundleDemo(): Promise<string> {
  await build({
    entryPoints: [path.join(ROOT, 'client-demo', 'src', 'vendor.ts')],
    outfile: DEMO_BUNDLE,
    bundle: true,
    format: 'esm',
    target: 'es2020',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  return DEMO_BUNDLE;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await bundleDemo();
