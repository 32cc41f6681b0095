/**
 * Worker thread of the RestoreWriter: opens, checks and writes the blobs of
 * one pack range at a time, with the repository's keys.
 */
import { parentPort } from 'node:worker_threads';
import { discardBuffer } from './bufferPool';
import { keyringFromClone, type Keyring } from './crypto/keyring';
import { CorruptionError } from './errors';
import { writeRangeSync, type WriterRequest, type WriterResult } from './restoreWriter';

// The keys come in the first message, not in workerData: the worker may have booted before they were known (see spareWorkers).
let ring: Keyring;

parentPort!.on('message', (request: WriterRequest) => {
  if (request.kind === 'keys') {
    ring = keyringFromClone(request);
    return;
  }
  const { pack, memory, length, blobs } = request;
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
