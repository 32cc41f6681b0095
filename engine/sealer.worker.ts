/**
 * Worker thread of the Sealer: seals batches of small files, and chunks, with
 * the repository's keys, and hands the sealed bytes back in transferred
 * buffers.
 */
import { parentPort } from 'node:worker_threads';
import { keyringFromClone } from './crypto/keyring';
import { sealChunk, sealSmallFile, type SealRequest, type SealResult, type SealSettings } from './sealer';

// The keys come in the first message, not in workerData: the worker may have booted before they were known (see spareWorkers).
let settings: SealSettings;
let buffer: Buffer;

parentPort!.on('message', (request: SealRequest) => {
  if (request.kind === 'settings') {
    settings = { ring: keyringFromClone(request), level: request.level, maxBytes: request.maxBytes };
    buffer = Buffer.allocUnsafe(settings.maxBytes);
  } else if (request.kind === 'chunk') sealOneChunk(request);
  else sealFiles(request.paths);
});

function sealFiles(paths: string[]): void {
  const results: Extract<SealResult, { kind: 'files' }>['results'] = [];
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
  parentPort!.postMessage({ kind: 'files', results, data: ab } satisfies SealResult, [ab]);
}

function sealOneChunk({ id, memory, length }: Extract<SealRequest, { kind: 'chunk' }>): void {
  try {
    const [before, body, after] = sealChunk(id, Buffer.from(memory, 0, length), settings);
    // Copies of their own: a Buffer may be a slice of Node's shared pool, which would be cloned whole.
    const result: SealResult = { kind: 'chunk', memory, bodyLength: body.length, before: new Uint8Array(before), after: new Uint8Array(after) };
    parentPort!.postMessage(result, [memory]);
  } catch (err) {
    parentPort!.postMessage({ kind: 'chunk-error', memory, message: (err as Error).message } satisfies SealResult, [memory]);
  }
}
