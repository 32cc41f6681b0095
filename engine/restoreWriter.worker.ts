/**
 * Worker thread of the RestoreWriter: opens, checks and writes the blobs of
 * one pack range at a time, with the repository's keys.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { discardBuffer } from './bufferPool';
import { keyringFromClone } from './crypto/keyring';
import { CorruptionError } from './errors';
import { writeRangeSync, type WriterRequest, type WriterResult } from './restoreWriter';

const ring = keyringFromClone(workerData as { idKey: Uint8Array; epochs: { epoch: number; key: Uint8Array; created: string }[] });

parentPort!.on('message', ({ pack, memory, length, blobs }: WriterRequest) => {
  const bytes = Buffer.from(memory, 0, length);
  let result: WriterResult;
  try {
    result = { kind: 'written', bytes: writeRangeSync(ring, { pack, bytes, blobs }) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    result = { kind: 'error', corruption: err instanceof CorruptionError, code: e.code, message: e.message };
  }
  discardBuffer(bytes); // the range is done with: its memory goes now, not at this thread's next full collection
  parentPort!.postMessage(result);
});
