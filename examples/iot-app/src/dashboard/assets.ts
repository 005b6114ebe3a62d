// The dashboard's script and style: bundled once with esbuild from dashboard/, kept in memory under content-hashed names.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RequestHandler } from 'express';

/** The browser-side sources: TypeScript and CSS. */
export const DASHBOARD_SOURCE_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'dashboard',
);

/** One built file, served as it is. */
interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The built files and the URLs the page links to. */
export interface BuiltAssets {
  /** `/app/assets/dashboard.<hash>.js` */
  script: string;
  /** `/app/assets/dashboard.<hash>.css` */
  style: string;
  files: ReadonlyMap<string, Asset>;
}

export interface DashboardAssets {
  /** Builds on first call; later calls share the result. A failed build is tried again next time. */
  built(): Promise<BuiltAssets>;
  /** Serves `/<name>` of a built file with a year's cache (the name changes with the content). */
  serve: RequestHandler;
}

function asset(name: string, body: Buffer, type: string): [string, Asset] {
  const hash = createHash('sha256').update(body).digest('base64url');
  const dot = name.lastIndexOf('.');
  const hashed = `${name.slice(0, dot)}.${hash.slice(0, 12)}${name.slice(dot)}`;
  return [hashed, { body, type, etag: `"${hash.slice(0, 27)}"` }];
}

async function build(mountPath: string): Promise<BuiltAssets> {
  // Loaded on first use: the bundler is only needed once a page is asked for.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(DASHBOARD_SOURCE_DIR, 'main.ts')],
    bundle: true,
    format: 'iife',
    target: 'es2022',
    minify: true,
    write: false,
    // Chart.js's licence notice stays in the bundle.
    legalComments: 'eof',
    logLevel: 'silent',
    absWorkingDir: DASHBOARD_SOURCE_DIR,
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error('esbuild produced no output for the dashboard');
  const css = await esbuild.transform(
    await readFile(join(DASHBOARD_SOURCE_DIR, 'dashboard.css'), 'utf8'),
    { loader: 'css', minify: true, logLevel: 'silent' },
  );
  const [scriptName, script] = asset(
    'dashboard.js',
    Buffer.from(output.contents),
    'text/javascript; charset=utf-8',
  );
  const [styleName, style] = asset(
    'dashboard.css',
    Buffer.from(css.code),
    'text/css; charset=utf-8',
  );
  return {
    script: `${mountPath}/${scriptName}`,
    style: `${mountPath}/${styleName}`,
    files: new Map([
      [scriptName, script],
      [styleName, style],
    ]),
  };
}

/** The assets served under `mountPath` (`/app/assets`). */
export function dashboardAssets(mountPath: string): DashboardAssets {
  let pending: Promise<BuiltAssets> | undefined;
  const built = () => {
    pending ??= build(mountPath).catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
  return {
    built,
    serve: function dashboardAsset(req, res, next) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return next();
      built()
        .then(({ files }) => {
          const file = files.get(req.path.slice(1));
          if (!file) return next();
          res.setHeader('Content-Type', file.type);
          res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
          res.setHeader('ETag', file.etag);
          if (req.headers['if-none-match'] === file.etag) {
            res.status(304).end();
            return;
          }
          res.setHeader('Content-Length', file.body.length);
          res.end(req.method === 'HEAD' ? undefined : file.body);
        })
        .catch(next);
    },
  };
}
