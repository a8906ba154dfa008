// Output folders of the command lines (Node only), written so that nothing a user has is lost:
// - an output never overlaps an input (`--out` inside `--data` would mix predictions into the data
//   set; `--out` holding `--data` could be replaced by it);
// - a command never deletes what it did not write: results go to a temporary sibling folder and are
//   moved in file by file at the end, replacing only files of the same names;
// - a folder is locked while a process writes it (a `.lock` file holding the writer's pid and host),
//   so two runs cannot interleave their files; a lock whose process is gone is taken over.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

export const LOCK_FILE = '.lock';

/** `a` and `b` name the same place, or one lies inside the other (after resolving `..` and links). */
export function overlaps(a: string, b: string): boolean {
  const [x, y] = [real(a), real(b)];
  const inside = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
  return inside(x, y) || inside(y, x);
}

/** The absolute path with symbolic links resolved as far as the path exists. */
function real(p: string): string {
  const abs = path.resolve(p);
  let head = abs;
  const tail: string[] = [];
  while (!existsSync(head) && path.dirname(head) !== head) {
    tail.unshift(path.basename(head));
    head = path.dirname(head);
  }
  try {
    return path.join(realpathSync.native(head), ...tail);
  } catch {
    return abs;
  }
}

/** Refuse an output that is, contains or lies inside one of the inputs. */
export function checkNotInput(option: string, out: string, inputs: { option: string; path: string }[]): void {
  for (const i of inputs) {
    if (overlaps(out, i.path)) {
      throw new Error(`${option} ${out}: overlaps ${i.option} ${i.path} (an output may not be, hold or lie inside an input): choose another ${option}`);
    }
  }
}

/** The entries of folder `dir` other than its lock; [] when it does not exist. Throws if `dir` is a file. */
export function entriesOf(dir: string, option: string): string[] {
  if (!existsSync(dir)) return [];
  if (!statSync(dir).isDirectory()) throw new Error(`${option} ${dir}: exists and is not a folder`);
  return readdirSync(dir).filter((e) => e !== LOCK_FILE);
}

/** A few entry names for a message. */
export const sample = (names: string[]) => `${names.slice(0, 3).join(', ')}${names.length > 3 ? `, … (${names.length} entries)` : ''}`;

/**
 * Lock folder `dir` (created if missing) for this process; returns the release function. Throws,
 * saying who holds it, if a live process does. A lock left by a process that is gone (same host) is
 * taken over; one from another host cannot be checked, so the message says how to remove it. A
 * folder made here and still empty at release is removed.
 */
export function lockDir(dir: string, option: string): () => void {
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const me = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${option} ${dir}: cannot lock (${(e as NodeJS.ErrnoException).code})`);
      const holder = readLock(file);
      if (holder && holder.host === me.host && !alive(holder.pid)) {
        unlinkSync(file); // its writer is gone: a crash or a kill left it
        continue;
      }
      const who = holder ? `process ${holder.pid} on ${holder.host} since ${holder.since}` : 'another process';
      throw new Error(`${option} ${dir}: in use by ${who} (${file}); wait for it to finish, or delete that file if no such process runs`);
    }
    writeSync(fd, JSON.stringify(me));
    closeSync(fd);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off('exit', release);
      const holder = readLock(file);
      if (holder?.pid === me.pid && holder.host === me.host) unlinkSync(file);
      if (created && readdirSync(dir).length === 0) rmdirSync(dir); // a run that failed at once leaves nothing behind
    };
    process.on('exit', release);
    return release;
  }
  throw new Error(`${option} ${dir}: cannot lock (${file} keeps reappearing)`);
}

function readLock(file: string): { pid: number; host: string; since: string } | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; host: string; since: string };
    return Number.isInteger(v.pid) && typeof v.host === 'string' ? v : undefined;
  } catch {
    return undefined; // being written, or not ours: treated as held
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** A temporary folder beside `dir` (same file system, so moving out of it is a rename), hidden. */
export function stagingDir(dir: string): string {
  const abs = path.resolve(dir);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.partial-${process.pid}`);
}

/**
 * Move every file under `from` to the same relative path under `to`, replacing files of the same
 * names and keeping every other file in `to`; `from` (ours) is removed. Returns the files moved.
 */
export function moveInto(from: string, to: string): number {
  mkdirSync(to, { recursive: true });
  let n = 0;
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    if (e.isDirectory()) {
      if (existsSync(dst) && !statSync(dst).isDirectory()) throw new Error(`${dst}: exists and is not a folder; not replaced`);
      n += moveInto(src, dst);
    } else {
      if (existsSync(dst) && statSync(dst).isDirectory()) throw new Error(`${dst}: is a folder; not replaced by a file`);
      renameSync(src, dst);
      n++;
    }
  }
  rmdirSync(from); // empty now: never a recursive delete
  return n;
}
