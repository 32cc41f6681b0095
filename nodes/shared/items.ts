import { NodeOperationError, type IBinaryKeyData, type IDataObject, type IExecuteFunctions, type INodeExecutionData } from 'n8n-workflow';
import { describeError, findSnapshot, type Repository, type SnapshotRef } from '../../engine';

/**
 * The item loop every node shares: one call per input item, every output
 * item paired with its input, errors as NodeOperationError with the item's
 * index, or as an error item when the node is set to continue on fail.
 */
export async function eachItem(
  ctx: IExecuteFunctions,
  fn: (itemIndex: number) => Promise<IDataObject | IDataObject[] | WithBinary>,
): Promise<INodeExecutionData[][]> {
  const items = ctx.getInputData();
  const out: INodeExecutionData[] = [];
  for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
    try {
      const result = await fn(itemIndex);
      if (result instanceof WithBinary) out.push({ json: result.json, binary: result.binary, pairedItem: { item: itemIndex } });
      else for (const json of Array.isArray(result) ? result : [result]) out.push({ json, pairedItem: { item: itemIndex } });
    } catch (error) {
      if (ctx.continueOnFail()) {
        out.push({ json: { ...items[itemIndex].json, error: describeError(error) }, pairedItem: { item: itemIndex } });
        continue;
      }
      throw new NodeOperationError(ctx.getNode(), error instanceof Error ? error : new Error(describeError(error)), {
        itemIndex,
        description: describeError(error),
      });
    }
  }
  return [out];
}

/** The snapshot the Snapshot and Of Target parameters name. */
export function snapshotFromParameters(ctx: IExecuteFunctions, repo: Repository, itemIndex: number): Promise<SnapshotRef> {
  const target = (ctx.getNodeParameter('ofTarget', itemIndex, '') as string) || undefined;
  return findSnapshot(repo, ctx.getNodeParameter('snapshot', itemIndex) as string, { target });
}

/** An output item that carries binary data as well. */
export class WithBinary {
  constructor(
    readonly json: IDataObject,
    readonly binary: IBinaryKeyData,
  ) {}
}

/** A snapshot as a node outputs it. */
export function snapshotJson(ref: SnapshotRef): IDataObject {
  const s = ref.snapshot;
  return {
    snapshotId: ref.id,
    shortId: ref.id.slice(0, 8),
    target: s.target,
    type: s.type,
    time: s.time,
    parent: s.parent,
    tags: s.tags,
    paths: s.paths,
    files: s.stats.files,
    filesUnchanged: s.stats.filesUnchanged,
    bytesRead: s.stats.bytesRead,
    bytesAdded: s.stats.bytesAdded,
    bytesStored: s.stats.bytesStored,
    totalSize: s.stats.totalSize,
    // logical size per byte of new data, and new data per byte written
    dedupRatio: Number((s.stats.totalSize / Math.max(1, s.stats.bytesAdded)).toFixed(2)),
    compressionRatio: Number((s.stats.bytesAdded / Math.max(1, s.stats.bytesStored)).toFixed(2)),
    durationMs: s.stats.durationMs,
  };
}

/** "k=v, k2=v2" → tags */
export function parseTagList(text: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`tag ${JSON.stringify(part)} is not key=value`);
    tags[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return tags;
}

export function splitList(text: string): string[] {
  return text.split(/[,\n]/).map((p) => p.trim()).filter(Boolean);
}
