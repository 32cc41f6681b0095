import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Chunker } from '../../engine/chunker';
import { sourceOf } from '../support/byteSource';
import { isRelationFile, pageAlignedTarChunks, pageBlockFor } from '../../engine/targets/postgresCluster/pageChunks';
import { seededBytes } from '../support/trees';

const chunker = new Chunker({ min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024, seed: 'cd'.repeat(32) });
const BLOCK = 16 * 1024;
const work = path.join(mkdtempSync(path.join(tmpdir(), 'dbm-pagechunks-')));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function split(data: Buffer, pieceSize = 65_537): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of pageAlignedTarChunks(BLOCK)(chunker, sourceOf(data, pieceSize), chunker.workBuffer())) out.push(Buffer.from(c));
  return out;
}

/** A tar as pg_basebackup writes one (ustar), made by GNU tar from files in `dir`, with fixed times so two runs compare. */
function tarOf(dir: string, files: Record<string, Buffer>): Buffer {
  rmSync(dir, { recursive: true, force: true });
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), body);
  }
  const out = `${dir}.tar`;
  const r = spawnSync('tar', ['--format=ustar', '--mtime=2026-01-01', '--owner=0', '--group=0', '--sort=name', '-C', dir, '-cf', out, ...Object.keys(files)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return readFileSync(out);
}

/** Offsets of each chunk's start in the stream. */
function cutPoints(chunks: Buffer[]): number[] {
  const points: number[] = [];
  let pos = 0;
  for (const c of chunks) {
    points.push(pos);
    pos += c.length;
  }
  return points;
}

const ids = (chunks: Buffer[]) => new Set(chunks.map((c) => c.toString('base64')));

describe('page-aware chunking of a base backup tar', () => {
  const relation = seededBytes('heap', 40 * 8192 + 8192 * 3); // 43 pages: two blocks' worth is not a multiple
  const files = {
    PG_VERSION: Buffer.from('15\n'),
    'base/5/16384': relation,
    'base/5/16384_fsm': seededBytes('fsm', 24 * 1024),
    'base/5/pg_internal.init': seededBytes('init', 100_000),
    'global/1262': seededBytes('global', 8192 * 10),
    'pg_wal/000000010000000000000002': seededBytes('wal', 300_000),
  };

  it('chooses single pages up to 4 GiB, then blocks that keep a backup under 512Ki of them, and keeps the previous size within a factor of two', () => {
    const GiB = 2 ** 30;
    expect(pageBlockFor(300e6)).toBe(8192);
    expect(pageBlockFor(4 * GiB)).toBe(8192);
    expect(pageBlockFor(5 * GiB)).toBe(16384);
    expect(pageBlockFor(100 * GiB)).toBe(256 * 1024);
    expect(pageBlockFor(5 * GiB, 8192)).toBe(8192); // just past the threshold: the last backup's blocks still dedup
    expect(pageBlockFor(20 * GiB, 8192)).toBe(65536); // grown 4×: larger blocks
    expect(pageBlockFor(300e6, 65536)).toBe(8192);
    for (const junk of [0, 12345, -8192, '8192', null, 2 ** 40]) expect(pageBlockFor(300e6, junk)).toBe(8192);
  });

  it('knows relation files from the rest', () => {
    for (const name of ['base/5/16384', 'base/16384/2619_fsm', 'global/1262_vm', 'base/5/16384.12', './base/1/1259_init']) expect(isRelationFile(name), name).toBe(true);
    for (const name of ['base/5/pg_internal.init', 'base/5/PG_VERSION', 'pg_wal/000000010000000000000002', 'global/pg_control', 'base/5/16384.tmp', 'base/x/1']) expect(isRelationFile(name), name).toBe(false);
  });

  it('restores the tar byte for byte, with the data of large relation files cut at page-aligned blocks', async () => {
    const tar = tarOf(path.join(work, 'a'), files);
    for (const piece of [511, 65_537, 1 << 20]) {
      const chunks = await split(tar, piece);
      expect(Buffer.concat(chunks).equals(tar)).toBe(true);
      const points = new Set(cutPoints(chunks));
      const start = tar.indexOf(relation.subarray(0, 64));
      expect(start % 512).toBe(0);
      for (let off = 0; off < relation.length; off += BLOCK) expect(points.has(start + off), `a cut at block ${off / BLOCK}`).toBe(true);
      // and no cut inside a block
      for (const p of points) if (p > start && p < start + relation.length) expect((p - start) % BLOCK).toBe(0);
      // the small ones stay with their neighbours: the 24 KiB free-space map is not cut into blocks
      const fsm = tar.indexOf(files['base/5/16384_fsm'].subarray(0, 64));
      expect(points.has(fsm + BLOCK)).toBe(false);
    }
  });

  it('after a page changed in a relation file, only its block and the content-defined chunks around the header are new', async () => {
    const tarBefore = tarOf(path.join(work, 'b'), files);
    const changed = Buffer.from(relation);
    changed.fill(7, 20 * 8192 + 100, 20 * 8192 + 200); // a tuple on page 20
    const tarAfter = tarOf(path.join(work, 'c'), { ...files, 'base/5/16384': changed });
    const old = ids(await split(tarBefore));
    const fresh = (await split(tarAfter)).filter((c) => !old.has(c.toString('base64')));
    expect(fresh.length).toBe(1);
    expect(fresh[0].length).toBe(BLOCK);
    // the same change under content-defined chunking makes a whole chunk new, several blocks' worth
    const cdc = async (tar: Buffer) => {
      const out: Buffer[] = [];
      for await (const c of chunker.chunks(sourceOf(tar, 1 << 20))) out.push(Buffer.from(c));
      return out;
    };
    const oldCdc = ids(await cdc(tarBefore));
    const freshCdc = (await cdc(tarAfter)).filter((c) => !oldCdc.has(c.toString('base64')));
    expect(freshCdc.reduce((n, c) => n + c.length, 0)).toBeGreaterThan(2 * BLOCK);
  });

  it('falls back to content-defined chunks for what is not a tar', async () => {
    const data = seededBytes('not-a-tar', 1 << 20);
    const chunks = await split(data);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    const plain: Buffer[] = [];
    for await (const c of chunker.chunks(sourceOf(data, 1 << 20))) plain.push(Buffer.from(c));
    expect(chunks.map((c) => c.length)).toEqual(plain.map((c) => c.length));
  });

  it('a stream that ends inside a relation file yields what came (the producer reports the failure)', async () => {
    const tar = tarOf(path.join(work, 'd'), files);
    const start = tar.indexOf(relation.subarray(0, 64));
    const cut = tar.subarray(0, start + 3 * BLOCK + 100);
    const chunks = await split(cut);
    expect(Buffer.concat(chunks).equals(cut)).toBe(true);
  });
});
