/** The benchmarks' generated file tree: ~256 MiB of small text files, medium logs and incompressible binaries. */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, promises as fs, rmSync } from 'node:fs';
import * as path from 'node:path';

export function rand(seed: string, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let pos = 0, i = 0; pos < n; pos += 32, i++) createHash('sha256').update(`${seed}/${i}`).digest().copy(out, pos);
  return out;
}

const WORDS = 'backup restore snapshot error warning info debug request response user session database query index pack chunk minio postgres worker schedule retention verify'.split(' ');

export function logText(seed: string, bytes: number): Buffer {
  const r = rand(seed, Math.ceil(bytes / 8) + 64);
  const lines: string[] = [];
  let size = 0;
  let t = Date.UTC(2026, 0, 1) + r.readUInt32LE(0) * 1000;
  for (let i = 0; size < bytes; i++) {
    const b = r.readUInt32LE((i * 4) % (r.length - 4));
    t += b % 5000;
    const line = `${new Date(t).toISOString()} ${['INFO', 'WARN', 'DEBUG', 'ERROR'][b & 3]} ${WORDS[b % WORDS.length]} ${WORDS[(b >>> 8) % WORDS.length]} id=${(b >>> 4).toString(16)} took=${b % 997}ms user=${WORDS[(b >>> 16) % WORDS.length]}${b % 89}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('').slice(0, bytes));
}

export async function generateTree(root: string): Promise<void> {
  rmSync(root, { recursive: true, force: true });
  // ~32 MiB of small text files: 80 directories x 100 files of 1–7 KiB
  for (let d = 0; d < 80; d++) {
    const dir = path.join(root, 'projects', `p${d}`, 'src');
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const size = 1024 + ((d * 131 + f * 71) % 6144);
      await fs.writeFile(path.join(dir, `file${f}.txt`), logText(`small-${d}-${f}`, size));
    }
  }
  // ~120 MiB of medium logs: 40 x 3 MiB
  mkdirSync(path.join(root, 'logs'), { recursive: true });
  for (let i = 0; i < 40; i++) await fs.writeFile(path.join(root, 'logs', `app${i}.log`), logText(`log-${i}`, 3 * 1024 * 1024));
  // ~100 MiB of incompressible binaries: 6 x 17 MiB
  mkdirSync(path.join(root, 'media'), { recursive: true });
  for (let i = 0; i < 6; i++) await fs.writeFile(path.join(root, 'media', `blob${i}.bin`), rand(`bin-${i}`, 17 * 1024 * 1024));
}

/** ~1 %: append to 10 logs, rewrite 100 small files, overwrite 1 MiB inside a binary. */
export async function changeOnePercent(root: string, round: number): Promise<void> {
  for (let i = 0; i < 10; i++) await fs.appendFile(path.join(root, 'logs', `app${i}.log`), logText(`append-${round}-${i}`, 100 * 1024));
  for (let f = 0; f < 100; f++) {
    await fs.writeFile(path.join(root, 'projects', `p${f % 80}`, 'src', `file${f}.txt`), logText(`edit-${round}-${f}`, 4096));
  }
  const fh = await fs.open(path.join(root, 'media', 'blob0.bin'), 'r+');
  await fh.write(rand(`patch-${round}`, 1024 * 1024), 0, 1024 * 1024, 8 * 1024 * 1024);
  await fh.close();
}


/** restic's weak spot: `count` small files of 1–8 KiB, 100 to a directory. */
export async function generateSmallFiles(root: string, count = 100_000): Promise<void> {
  rmSync(root, { recursive: true, force: true });
  for (let d = 0; d * 100 < count; d++) {
    const dir = path.join(root, `d${Math.floor(d / 32)}`, `s${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100 && d * 100 + f < count; f++) {
      await fs.writeFile(path.join(dir, `f${f}.txt`), logText(`tiny-${d}-${f}`, 1024 + ((d * 131 + f * 71) % 7168)));
    }
  }
}

/** ~1 % of the small files rewritten. */
export async function changeSmallFiles(root: string, round: number, count = 100_000): Promise<void> {
  for (let i = 0; i < count / 100; i++) {
    const d = (i * 37) % (count / 100);
    await fs.writeFile(path.join(root, `d${Math.floor(d / 32)}`, `s${d}`, `f${i % 100}.txt`), logText(`tiny-edit-${round}-${i}`, 2048));
  }
}

/** Incompressible bytes, fast (AES-CTR's keystream from the seed): `rand` hashes every 32 bytes, too slow for gigabytes. */
function keystream(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/**
 * A ~2 GiB tree, to show memory stays bounded at that size too: six 256 MiB
 * incompressible binaries and eight 64 MiB logs, none alike (nothing dedups).
 */
export async function generateLargeTree(root: string): Promise<void> {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(path.join(root, 'media'), { recursive: true });
  mkdirSync(path.join(root, 'logs'), { recursive: true });
  for (let i = 0; i < 6; i++) {
    const fh = await fs.open(path.join(root, 'media', `disk${i}.img`), 'w');
    for (let part = 0; part < 16; part++) await fh.write(keystream(`large-bin-${i}-${part}`, 16 * 1024 * 1024));
    await fh.close();
  }
  for (let i = 0; i < 8; i++) {
    const fh = await fs.open(path.join(root, 'logs', `big${i}.log`), 'w');
    for (let part = 0; part < 16; part++) await fh.write(logText(`large-log-${i}-${part}`, 4 * 1024 * 1024));
    await fh.close();
  }
}

/** ~1 % of the large tree: 4 MiB appended to each of four logs, 1 MiB overwritten in each of four binaries. */
export async function changeLargeTree(root: string, round: number): Promise<void> {
  for (let i = 0; i < 4; i++) await fs.appendFile(path.join(root, 'logs', `big${i}.log`), logText(`large-append-${round}-${i}`, 4 * 1024 * 1024));
  for (let i = 0; i < 4; i++) {
    const fh = await fs.open(path.join(root, 'media', `disk${i}.img`), 'r+');
    await fh.write(keystream(`large-patch-${round}-${i}`, 1024 * 1024), 0, 1024 * 1024, (64 + 16 * i) * 1024 * 1024);
    await fh.close();
  }
}
