// The static file server of the browser page (Node only; the page never imports it). `mounts` maps
// URL prefixes to folders: `npm run web` (web/serve.ts) serves dist/web/ at `/` and the repository's
// runs/ and data/ under /runs/ and /data/, so a checkpoint and frames can be opened by URL.
//
// Read-only: GET and HEAD only. A folder answers its index.html if it has one, otherwise a JSON list
// of its entries (sub-folders end in '/'), which the page uses to open a folder of frames by URL.
// Single byte ranges are served (a <video> seeks with them). Request paths are checked segment by
// segment after percent-decoding: '..', '.', empty segments, backslashes and NUL are refused, so no
// request leaves its mount (symbolic links inside a mounted folder are followed: they are the user's).
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface ServerOptions {
  /** URL prefix ('/', '/runs', ...) → folder. The longest matching prefix wins. */
  mounts: Record<string, string>;
  port: number;
  host?: string;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.jsonl': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.ogv': 'video/ogg',
};

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The file a URL path names, or an HttpError: the mount's folder + the path's checked segments. */
export function resolvePath(mounts: Record<string, string>, urlPath: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    throw new HttpError(400, `bad percent-encoding in ${urlPath}`);
  }
  const prefix = Object.keys(mounts)
    .sort((a, b) => b.length - a.length)
    .find((p) => p === '/' || decoded === p || decoded.startsWith(p.endsWith('/') ? p : `${p}/`));
  if (prefix === undefined) throw new HttpError(404, `${decoded}: not found`);
  const rest = decoded.slice(prefix.length).replace(/^\/+/, '');
  const segments = rest === '' ? [] : rest.replace(/\/$/, '').split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0'))) {
    throw new HttpError(403, `${decoded}: the path may not contain '..', '.', '//', '\\' or NUL`);
  }
  return path.join(mounts[prefix]!, ...segments);
}

async function serveFile(req: IncomingMessage, res: ServerResponse, file: string, size: number): Promise<void> {
  const type = TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  let start = 0;
  let end = size - 1;
  if (range && (range[1] || range[2])) {
    start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
    end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start > end || start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    res.writeHead(206, { 'content-type': type, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}`, 'accept-ranges': 'bytes' });
  } else {
    res.writeHead(200, { 'content-type': type, 'content-length': size, 'accept-ranges': 'bytes', 'cache-control': 'no-cache' });
  }
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  await new Promise<void>((resolve, reject) => {
    createReadStream(file, { start, end }).on('error', reject).on('end', resolve).pipe(res);
  });
}

async function handle(mounts: Record<string, string>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method}: this server is read-only (GET and HEAD)`);
  const urlPath = new URL(req.url ?? '/', 'http://localhost').pathname;
  const target = resolvePath(mounts, urlPath);
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new HttpError(404, `${urlPath}: not found`);
  if (info.isFile()) return serveFile(req, res, target, info.size);
  if (!info.isDirectory()) throw new HttpError(403, `${urlPath}: not a file or folder`);
  const index = path.join(target, 'index.html');
  const indexInfo = await stat(index).catch(() => undefined);
  if (indexInfo?.isFile()) return serveFile(req, res, index, indexInfo.size);
  const entries = (await readdir(target, { withFileTypes: true }))
    .filter((e) => !e.name.startsWith('.'))
    .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
    .sort();
  const body = JSON.stringify(entries);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const mounts = Object.fromEntries(Object.entries(o.mounts).map(([p, dir]) => [p, path.resolve(dir)]));
  const server = createServer((req, res) => {
    handle(mounts, req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      const message = e instanceof Error ? e.message : String(e);
      if (res.headersSent) res.destroy();
      else res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${status}: ${message}\n`);
    });
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host === '127.0.0.1' ? 'localhost' : host}:${port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
