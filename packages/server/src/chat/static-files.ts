/**
 * Serves the browser page: the files of one directory, read at request
 * time so a rebuilt page needs no restart. Only regular files directly
 * reachable under the directory are served; dot files and `..` never are.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * defaultPageDir finds `src/chat/page` in the package root, walking up
 * from this module, which runs from `dist/src/chat/` once built.
 */
export function defaultPageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'src', 'chat', 'page');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return resolve('src', 'chat', 'page');
}

/** The file under `root` that `pathname` names (`/` is index.html), or undefined. */
export function pageFile(root: string, pathname: string): string | undefined {
  let relative: string;
  try {
    relative = decodeURIComponent(pathname === '/' ? '/index.html' : pathname).slice(1);
  } catch {
    return undefined;
  }
  if (relative === '' || relative.includes('\0') || relative.split(/[/\\]/).some((part) => part === '' || part.startsWith('.'))) {
    return undefined;
  }
  const file = resolve(root, relative);
  if (!file.startsWith(root + sep)) return undefined;
  try {
    return statSync(file).isFile() ? file : undefined;
  } catch {
    return undefined;
  }
}

/** servePageFile answers GET or HEAD with the file, its content type and no-cache headers. */
export function servePageFile(req: IncomingMessage, res: ServerResponse, file: string): void {
  writePageHead(res, CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', statSync(file).size);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** servePageScript answers GET or HEAD with a script made by the server, under the same headers as the page's files. */
export function servePageScript(req: IncomingMessage, res: ServerResponse, source: string): void {
  const body = Buffer.from(source, 'utf8');
  writePageHead(res, CONTENT_TYPES['.js']!, body.length);
  res.end(req.method === 'HEAD' ? undefined : body);
}

function writePageHead(res: ServerResponse, type: string, length: number): void {
  res.writeHead(200, {
    'content-type': type,
    'content-length': length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    // The page also sets a CSP in a meta tag; frame-ancestors only works as a header.
    'content-security-policy': "frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
  });
}
