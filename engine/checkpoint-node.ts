// Checkpoint files on disk (Node only; the format itself is safetensors.ts, which browsers share).
//
// Writes are atomic: the bytes go to a temporary file in the target's directory (same file system, so
// the rename cannot turn into a copy), which is fsynced and then renamed over the target. A crash or
// an error at any point leaves either the old file or the new one, never a torn mix, and the
// temporary file is removed when anything fails.

import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { loadParams, saveParams } from './safetensors.ts';
import type { Tensor } from './tensor.ts';

type Named = Map<string, Tensor> | Record<string, Tensor>;

/** Replace `path` with `bytes` atomically (temp file, fsync, rename). */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined); // may not exist if open failed
    throw e;
  }
  // Persist the rename itself (the directory entry); not possible on every platform, and not needed
  // for atomicity, so a failure here is ignored.
  try {
    const dir = await open(dirname(path), 'r');
    await dir.sync().finally(() => dir.close());
  } catch {
    /* e.g. Windows cannot fsync a directory */
  }
}

/** Read `named` back from the GPU and write it to `path` as a safetensors file, atomically. */
export async function saveCheckpoint(path: string, named: Named, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, await saveParams(named, metadata));
}

/**
 * The bytes of `path`, which must be a regular file: a FIFO would block the read forever and a
 * device such as /dev/zero would grow memory without bound. `what` names the option or role in errors
 * ("--checkpoint"). Used for every file a user names (checkpoints, frames, masks).
 */
export function readRegularFile(path: string, what?: string): Uint8Array {
  const where = what ? `${what} ${path}` : path;
  const cannot = (e: unknown) => new Error(`${where}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(path);
  } catch (e) {
    throw cannot(e);
  }
  if (!info.isFile()) throw new Error(`${where}: not a regular file (${info.isDirectory() ? 'a folder' : 'a FIFO, socket or device'})`);
  if (info.size > MAX_INPUT_BYTES) throw new Error(`${where}: ${info.size} bytes, larger than the 2 GiB a file may have here`);
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw cannot(e);
  }
}

/** Files larger than this are refused (Node's Buffer cannot hold more than 2 GiB − 1 in one read anyway). */
export const MAX_INPUT_BYTES = 2 ** 31 - 1;

/** Load a safetensors file into the tensors of `named` (all names and shapes must match). Returns its metadata. */
export async function loadCheckpoint(path: string, named: Named): Promise<Record<string, string>> {
  return loadParams(named, readRegularFile(path), path);
}
