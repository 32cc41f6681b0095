import * as path from 'node:path';
import { NodeOperationError, type IDataObject, type IExecuteFunctions } from 'n8n-workflow';
import type { Repository } from '../../engine';
import { CLUSTER_TARGET, type RecoveryTarget } from '../../engine/targets';
import { recoverCluster, type RepositoryConfig } from '../../engine/targets/postgresCluster/recoveryRunner';
import { allowedPath } from '../shared/pathPolicy';

/** The restore_command, shipped in this package: the small program in front of the WAL prefetcher. */
const WAL_GET = [process.execPath, path.join(__dirname, '..', '..', 'cli', 'wal-get.js')];

/** The node's point-in-time recovery: a cluster to a moment, into a new data directory, optionally started. */
export async function recoverClusterItem(ctx: IExecuteFunctions, repo: Repository, i: number, config: RepositoryConfig): Promise<IDataObject> {
  const cluster = String(ctx.getNodeParameter('cluster', i, ''));
  const to = String(ctx.getNodeParameter('dataDirectory', i, ''));
  if (!cluster) throw new NodeOperationError(ctx.getNode(), 'Cluster is empty: name the cluster whose WAL is archived', { itemIndex: i });
  if (!to) throw new NodeOperationError(ctx.getNode(), 'Data Directory is empty: give a new directory to restore into', { itemIndex: i });
  const kind = String(ctx.getNodeParameter('recoveryTarget', i, 'time'));
  let target: RecoveryTarget;
  if (kind === 'latest') target = { latest: true };
  else if (kind === 'lsn') target = { lsn: String(ctx.getNodeParameter('targetLsn', i, '')) };
  else if (kind === 'name') target = { name: String(ctx.getNodeParameter('targetName', i, '')) };
  else if (kind === 'xid') target = { xid: String(ctx.getNodeParameter('targetXid', i, '')) };
  else {
    const time = new Date(String(ctx.getNodeParameter('targetTime', i, '')));
    if (Number.isNaN(time.getTime())) throw new NodeOperationError(ctx.getNode(), 'Target Time is not a time', { itemIndex: i });
    target = { time };
  }
  const port = Number(ctx.getNodeParameter('startPort', i, 0));
  const result = await recoverCluster(repo, { walGet: WAL_GET, cluster, target, to: allowedPath('restore destination', to), config, startPort: port > 0 ? port : undefined });
  const { target: recoveredTo, ...rest } = result;
  return { ...rest, recoveredTo, target: CLUSTER_TARGET, cluster, destination: 'cluster', snapshotId: result.baseBackup };
}
