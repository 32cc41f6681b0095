/**
 * Worker thread of the SmallFileSealer: seals batches of small files with the
 * repository's keys and hands the sealed bytes back in one transferred buffer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { keyringFromClone } from './crypto/keyring';
import { sealSmallFile, type BatchRequest, type BatchResult, type SealSettings } from './smallFileSealer';

interface Data {
  idKey: Uint8Array;
  epochs: { epoch: number; key: Uint8Array; created: string }[];
  level: number;
  maxBytes: number;
}

const data = workerData as Data;
const settings: SealSettings = { ring: keyringFromClone(data), level: data.level, maxBytes: data.maxBytes };
const buffer = Buffer.allocUnsafe(settings.maxBytes);

parentPort!.on('message', ({ paths }: BatchRequest) => {
  const results: BatchResult['results'] = [];
  const sealed: Buffer[] = [];
  let offset = 0;
  for (const abs of paths) {
    try {
      const r = sealSmallFile(abs, settings, buffer);
      if (r.kind !== 'blob') {
        results.push({ kind: r.kind });
        continue;
      }
      results.push({ kind: 'blob', id: r.id, rawLength: r.rawLength, offset, length: r.sealed.length });
      sealed.push(r.sealed);
      offset += r.sealed.length;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      results.push({ kind: 'error', code: e.code, message: e.message });
    }
  }
  // One buffer of its own (not a slice of Node's shared pool), so it can be transferred, not copied.
  const out = Buffer.allocUnsafeSlow(offset);
  let at = 0;
  for (const s of sealed) at += s.copy(out, at);
  const ab = out.buffer as ArrayBuffer;
  parentPort!.postMessage({ results, data: ab } satisfies BatchResult, [ab]);
});
