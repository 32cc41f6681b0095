import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Hono } from 'hono';
import type { AppEnv } from './context';

/**
 * The web console's files, served at `/` from the build's `dist/console`
 * (console/ holds their sources). The page runs only its own scripts and
 * styles, is never framed, and sends no referrer; everything it shows it
 * reads from /api/v1 with the session cookie (session.ts).
 */
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

export const CONSOLE_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** Compiled, it sits beside dist/server; run from sources (the tests), it is the build's output. */
export function consoleDir(): string {
  const beside = path.join(__dirname, '..', 'console');
  return existsSync(path.join(beside, 'app.js')) ? beside : path.join(__dirname, '..', 'dist', 'console');
}

export function consoleRoutes(dir = consoleDir()): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const files = new Map<string, Promise<Buffer | null>>();
  const read = (name: string): Promise<Buffer | null> => {
    let file = files.get(name);
    if (!file) {
      file = fs.readFile(path.join(dir, name)).catch(() => null);
      files.set(name, file);
    }
    return file;
  };
  const serve = async (name: string): Promise<Response | null> => {
    const body = await read(name);
    if (!body) return null;
    return new Response(new Uint8Array(body), { headers: { 'content-type': TYPES[path.extname(name)], ...CONSOLE_HEADERS } });
  };
  app.get('/', async (c) => (await serve('index.html')) ?? c.text('the web console is not built: run npm run build', 503));
  app.get('/console/:file{[a-z0-9-]+\\.(js|css|svg)}', async (c) => (await serve(c.req.param('file'))) ?? c.json({ error: { status: 404, message: `no console file ${c.req.param('file')}` } }, 404));
  return app;
}
