/**
 * Worker thread of the RestoreWriter: opens, checks and writes the blobs of
 * one pack range at a time, with the repository's keys; finishes files.
 */
import { parentPort } from 'node:worker_threads';
import { discardBuffer } from './bufferPool';
import { keyringFromClone, type Keyring } from './crypto/keyring';
import { failureResult, finishFilesSync, writeRangeSync, type WriterRequest, type WriterResult } from './restoreWriter';

// The keys come in the first message, not in workerData: the worker may have booted before they were known (see spareWorkers).
let ring: Keyring;

parentPort!.on('message', (request: WriterRequest) => {
  if (request.kind === 'keys') {
    ring = keyringFromClone(request);
    return;
  }
  if (request.kind === 'finish') {
    let finished: WriterResult = { kind: 'finished' };
    try {
      finishFilesSync(request.files);
    } catch (err) {
      finished = failureResult(err);
    }
    parentPort!.postMessage(finished);
    return;
  }
  const { pack, memory, length, blobs } = request;
  const bytes = Buffer.from(memory, 0, length);
  let result: WriterResult;
  try {
    result = { kind: 'written', bytes: writeRangeSync(ring, { pack, bytes, blobs }) };
  } catch (err) {
    result = failureResult(err);
  }
  discardBuffer(bytes); // the range is done with: its memory goes now, not at this thread's next full collection
  parentPort!.postMessage(result);
});
