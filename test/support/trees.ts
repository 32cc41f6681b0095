import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** Deterministic pseudo-random bytes, so a test's data is the same every run. */
export function seededBytes(seed: string, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let counter = 0;
  for (let pos = 0; pos < length; pos += 32) {
    createHash('sha256').update(`${seed}:${counter++}`).digest().copy(out, pos);
  }
  return out;
}

/** Compressible text, like logs. */
export function textBytes(seed: string, length: number): Buffer {
  const words = ['backup', 'restore', 'error', 'info', 'pack', 'chunk', 'index', 'snapshot', 'postgres', 'minio'];
  const rnd = seededBytes(seed, Math.ceil(length / 4));
  let text = '';
  for (let i = 0; text.length < length; i++) text += `${words[rnd[i % rnd.length] % words.length]} ${rnd[i % rnd.length]}${i % 12 === 11 ? '\n' : ' '}`;
  return Buffer.from(text.slice(0, length));
}

/** A small tree with every kind of entry the engine keeps. */
export async function makeSampleTree(root: string): Promise<void> {
  await fs.mkdir(path.join(root, 'docs', 'nested', 'deeper'), { recursive: true });
  await fs.mkdir(path.join(root, 'empty'), { recursive: true });
  await fs.writeFile(path.join(root, 'docs', 'readme.txt'), 'hello\n');
  await fs.writeFile(path.join(root, 'docs', 'nested', 'log.txt'), textBytes('log', 300_000));
  await fs.writeFile(path.join(root, 'docs', 'nested', 'deeper', 'blob.bin'), seededBytes('blob', 3 * 1024 * 1024 + 17));
  await fs.writeFile(path.join(root, 'empty-file'), '');
  await fs.writeFile(path.join(root, 'script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await fs.writeFile(path.join(root, 'naïve name with spaces'), 'unicode\n');
  await fs.writeFile(path.join(root, '-leading-dash'), 'dash\n');
  await fs.symlink('docs/readme.txt', path.join(root, 'link-to-readme'));
  await fs.symlink('/nonexistent/elsewhere', path.join(root, 'dangling'));
  await fs.chmod(path.join(root, 'docs', 'readme.txt'), 0o640);
  await fs.utimes(path.join(root, 'docs', 'readme.txt'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
}

export interface EntryFacts {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeMs?: number;
  sha256?: string;
  target?: string;
}

/** Everything a byte-exact, metadata-preserving restore must reproduce. */
export async function describeTree(root: string): Promise<Record<string, EntryFacts>> {
  const out: Record<string, EntryFacts> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(abs);
      if (st.isSymbolicLink()) out[r] = { type: 'symlink', mode: 0, target: await fs.readlink(abs) };
      else if (st.isDirectory()) {
        out[r] = { type: 'dir', mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs) };
        await walk(abs, r);
      } else {
        out[r] = {
          type: 'file',
          mode: st.mode & 0o7777,
          mtimeMs: Math.floor(st.mtimeMs),
          sha256: createHash('sha256').update(await fs.readFile(abs)).digest('hex'),
        };
      }
    }
  };
  await walk(root, '');
  return out;
}

export async function writeRandomFiles(dir: string, count: number, size: number, seed = randomBytes(4).toString('hex')): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) await fs.writeFile(path.join(dir, `f${i}.bin`), seededBytes(`${seed}-${i}`, size));
}
