// Builds the frontend offline from node_modules (npm ci first):
//
//   node build.mjs [OUTDIR]      default: dist
//
// OUTDIR/server.js   the proxy and static server, one file (http-proxy inlined)
// OUTDIR/app/        the page: index.html, app.js, app.css and their assets
// Nothing in the result is fetched at run time.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, 'dist'));
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'app'), { recursive: true });

await build({
  entryPoints: [join(here, 'src/app.js')],
  outfile: join(out, 'app/app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'linked',
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.svg': 'file', '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.png': 'file' },
  assetNames: 'assets/[name]-[hash]',
  logLevel: 'warning',
});
await build({
  entryPoints: [join(here, 'src/server.js')],
  outfile: join(out, 'server.js'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: ['node20'],
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync(join(here, 'src/index.html'), join(out, 'app/index.html'));
process.stdout.write(`${out}\n`);
