// The static file server of the browser page (Node only; the page never imports it). `mounts` maps
// URL prefixes to folders: `npm run web` (web/serve.ts) serves dist/web/ at `/` and the repository's
// runs/ and data/ under /runs/ and /data/, so a checkpoint and frames can be opened by URL.
//
// Read-only: GET and HEAD only. A folder answers its index.html if it has one, otherwise a JSON list
// of its entries (sub-folders end in '/'), which the page uses to open a folder of frames by URL.
// Single byte ranges are served (a <video> seeks with them); a file's stream is closed as soon as the
// client goes away (browsers abort range requests whenever a video seeks).
//
// What it refuses, and why:
// - request paths are checked segment by segment after percent-decoding: '..', '.', empty segments,
//   backslashes and NUL are refused, so no request leaves its mount by its name;
// - dotfiles and dot-folders (.git, .env, a run's .lock) are never served, listed or not: they are
//   not what the page needs, and often what should stay private;
// - a symbolic link that leads outside its mount is refused: a link inside a data set to somewhere
//   else on the disk would otherwise publish that place. Serve such a folder by mounting it
//   (serve.ts --data DIR / --runs DIR) instead;
// - a request whose Host header is not this machine's loopback name (or --host) is refused: a page on
//   another site could otherwise reach this server through DNS rebinding (its name re-pointed at
//   127.0.0.1) and read every mounted file.
import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface ServerOptions {
  /** URL prefix ('/', '/runs', ...) → folder. The longest matching prefix wins. */
  mounts: Record<string, string>;
  port: number;
  /** The address to listen on (default 127.0.0.1); a name or address given here is also accepted as Host. */
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

/** The file a URL path names (the mount's folder + the path's checked segments) and that folder, or an HttpError. */
export function resolvePath(mounts: Record<string, string>, urlPath: string): { file: string; root: string } {
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
  if (segments.some((s) => s.startsWith('.'))) throw new HttpError(404, `${decoded}: not found (dotfiles are not served)`);
  return { file: path.join(mounts[prefix]!, ...segments), root: mounts[prefix]! };
}

/** Refuse `target` if symbolic links take it outside its mount `mount` (both compared after resolving links). */
async function checkInsideMount(mount: string, target: string, urlPath: string): Promise<void> {
  const root = await realpath(mount);
  const real = await realpath(target);
  if (real !== root && !real.startsWith(root + path.sep)) throw new HttpError(403, `${urlPath}: a symbolic link out of the served folder`);
}

/**
 * Host names a request may carry: loopback names; `host`; and when listening on every interface
 * (0.0.0.0 or ::), this machine's name and addresses. A rebinding attacker's own domain is never one.
 */
export function allowedHosts(host: string | undefined): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '[::1]']);
  const add = (h: string) => names.add(h.includes(':') && !h.startsWith('[') ? `[${h.toLowerCase()}]` : h.toLowerCase());
  if (host === '0.0.0.0' || host === '::') {
    add(hostname());
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) add(a.address);
  } else if (host) add(host);
  return names;
}

/** The host part of a Host header, lower-cased, without its port. */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.replace(/:\d*$/, '');
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
  // pipeline destroys the file stream when the response closes early (the client aborted), so no
  // file handle outlives its request.
  await pipeline(createReadStream(file, { start, end }), res);
}

async function handle(mounts: Record<string, string>, hosts: Set<string>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const host = hostName(req.headers.host ?? '');
  if (!hosts.has(host)) throw new HttpError(403, `Host '${host}' is not served (only ${[...hosts].join(', ')}): a guard against DNS rebinding`);
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method}: this server is read-only (GET and HEAD)`);
  const urlPath = new URL(req.url ?? '/', 'http://localhost').pathname;
  const { file: target, root } = resolvePath(mounts, urlPath);
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new HttpError(404, `${urlPath}: not found`);
  await checkInsideMount(root, target, urlPath);
  if (info.isFile()) return serveFile(req, res, target, info.size);
  if (!info.isDirectory()) throw new HttpError(403, `${urlPath}: not a file or folder`);
  const index = path.join(target, 'index.html');
  const indexInfo = await stat(index).catch(() => undefined);
  if (indexInfo?.isFile()) {
    await checkInsideMount(root, index, urlPath);
    return serveFile(req, res, index, indexInfo.size);
  }
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
  const hosts = allowedHosts(o.host);
  const server = createServer((req, res) => {
    handle(mounts, hosts, req, res).catch((e: unknown) => {
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
