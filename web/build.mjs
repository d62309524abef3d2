// build.mjs - bundles web/src into web/dist (index.html, assets/app.js,
// assets/app.css) with esbuild. Offline: only packages from the lockfile.
// Usage: node build.mjs [outdir]
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

await build({
  entryPoints: { app: join(here, 'src/main.jsx') },
  bundle: true,
  format: 'esm',
  target: ['es2020'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(out, 'assets'),
  entryNames: '[name]',
  loader: { '.css': 'css' },
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
});
// own stylesheet first, then the one esbuild extracted from imports (uPlot)
const own = readFileSync(join(here, 'src/styles.css'), 'utf8');
let extracted = '';
try {
  extracted = readFileSync(join(out, 'assets/app.css'), 'utf8');
} catch (_) {
  /* no CSS imported */
}
writeFileSync(join(out, 'assets/app.css'), own + '\n' + extracted);
copyFileSync(join(here, 'src/index.html'), join(out, 'index.html'));
console.log(`web: built ${out}`);
