// The dashboard's page, script and styles, bundled with esbuild from web/ when the viz starts:
// nothing is fetched from the internet (no CDN, no web font), and a fresh `npm ci && npm start`
// needs no build step of its own. Kept in memory; a few hundred kilobytes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../api/locate.ts';
import { codedError } from '../../api/errors.ts';

export interface Asset {
  type: string;
  body: Buffer;
}

export class DashboardBuildError extends codedError('DASHBOARD_BUILD') {}

/** The folder holding the browser's sources. */
export const WEB_DIR = join(projectRoot, 'viz', 'dashboard', 'web');

/** Builds web/main.js (and the CSS it imports) into `/`, `/assets/app.js` and `/assets/app.css`. */
export async function buildAssets(): Promise<Map<string, Asset>> {
  const { build } = await import('esbuild');
  let result;
  try {
    result = await build({
      entryPoints: { app: join(WEB_DIR, 'main.js') },
      bundle: true,
      write: false,
      outdir: '/assets',
      format: 'esm',
      target: 'es2020',
      minify: true,
      legalComments: 'none',
      logLevel: 'silent',
    });
  } catch (err) {
    throw new DashboardBuildError(`the dashboard's scripts in ${WEB_DIR} did not build: ${(err as Error).message}`, { cause: err });
  }
  const assets = new Map<string, Asset>();
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    assets.set(`/assets/${name}`, { type, body: Buffer.from(file.contents) });
  }
  const html = readFileSync(join(WEB_DIR, 'index.html'));
  assets.set('/', { type: 'text/html; charset=utf-8', body: html });
  return assets;
}
