// The page's file server under hostile use: aborted downloads leave no open file, a foreign Host is
// refused (DNS rebinding), dotfiles and symbolic links out of a mount are not served; and
// `npm run web`'s own errors (an unknown flag, a port in use) are one clear line, not a stack trace.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { allowedHosts, startServer, type RunningServer } from '../web/server.ts';

const root = mkdtempSync(path.join(tmpdir(), 'vss-server-'));
const served = path.join(root, 'served');
const outside = path.join(root, 'outside');
let server: RunningServer;
let port = 0;

beforeAll(async () => {
  mkdirSync(path.join(served, 'video'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(path.join(served, 'big.bin'), Buffer.alloc(8 << 20, 7)); // larger than any socket buffer
  writeFileSync(path.join(served, '.env'), 'SECRET=1');
  writeFileSync(path.join(served, 'video', 'a.txt'), 'inside');
  writeFileSync(path.join(outside, 'private.txt'), 'outside');
  symlinkSync(path.join(outside, 'private.txt'), path.join(served, 'leak.txt'));
  symlinkSync(outside, path.join(served, 'elsewhere'));
  symlinkSync(path.join(served, 'video', 'a.txt'), path.join(served, 'alias.txt'));
  server = await startServer({ port: 0, mounts: { '/': served } });
  port = Number(new URL(server.url).port);
});
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

/** A raw GET with any Host header (fetch will not let a test set Host). */
function get(pathname: string, host = `localhost:${port}`): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path: pathname, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => ok({ status: res.statusCode!, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

const openFiles = () => readdirSync('/proc/self/fd').length;

describe('the page server', () => {
  test('100 range requests aborted mid-download leave no open file, and the server still answers', async () => {
    const before = openFiles();
    for (let i = 0; i < 100; i++) {
      await new Promise<void>((ok) => {
        const req = request({ host: '127.0.0.1', port, path: '/big.bin', headers: { host: 'localhost', range: `bytes=${i}-` } }, (res) => {
          res.once('data', () => {
            req.destroy(); // the client goes away with most of the file unsent
            ok();
          });
        });
        req.on('error', () => ok());
        req.end();
      });
    }
    // Give the server's side of the sockets a moment to see the aborts.
    for (let t = 0; t < 50 && openFiles() > before + 2; t++) await new Promise((r) => setTimeout(r, 20));
    expect(openFiles()).toBeLessThanOrEqual(before + 2); // a socket or two may still be closing; 100 streams leaked before
    expect(await get('/video/a.txt')).toEqual({ status: 200, body: 'inside' });
  });

  test('a request naming another host is refused (DNS rebinding); loopback names are served', async () => {
    expect((await get('/video/a.txt', 'evil.example:8080')).status).toBe(403);
    expect((await get('/video/a.txt', 'localhost.evil.example')).status).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, 'LOCALHOST', `[::1]:${port}`]) expect((await get('/video/a.txt', host)).status, host).toBe(200);
    expect(allowedHosts('192.168.7.7').has('192.168.7.7')).toBe(true);
    expect(allowedHosts(undefined).has('192.168.7.7')).toBe(false);
  });

  test('dotfiles are not served and symbolic links out of the mount are refused; links inside it are followed', async () => {
    expect((await get('/.env')).status).toBe(404);
    expect((await get('/%2eenv')).status).toBe(404);
    expect((await get('/')).body).not.toContain('.env');
    expect((await get('/leak.txt')).status).toBe(403);
    expect((await get('/elsewhere/private.txt')).status).toBe(403);
    expect(await get('/alias.txt')).toEqual({ status: 200, body: 'inside' });
  });
});

describe('npm run web', () => {
  const vite = path.resolve('node_modules/.bin/vite-node');
  const serve = (...args: string[]) => spawnSync(process.execPath, [vite, 'web/serve.ts', '--', ...args], { encoding: 'utf8', timeout: 120_000 });

  test('an unknown flag and a port in use are one clear line each, without a stack trace', async () => {
    const bad = serve('--bogus');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^web: Unknown option '--bogus'/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const busy = createNetServer();
    await new Promise<void>((ok) => busy.listen(0, '127.0.0.1', ok));
    try {
      const taken = (busy.address() as AddressInfo).port;
      const r = serve('--port', String(taken));
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`web: port ${taken} on 127.0.0.1 is in use: choose another with --port N`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      busy.close();
    }
  });
});
