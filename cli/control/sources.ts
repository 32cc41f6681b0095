import type { Command } from 'commander';
import { csv } from '../options';

/** What a backup takes from, per target: `backup` and `schedule create` share these flags. */
export function withSourceOptions(cmd: Command): Command {
  return cmd
    .option('--paths <list>', 'files: absolute paths, comma-separated (default: the configured ones)', csv)
    .option('--databases <list>', 'postgres: databases, comma-separated (default: all)', csv)
    .option('--buckets <list>', 'minio: buckets or bucket/prefix, comma-separated', csv)
    .option('--cluster <name>', 'postgres-cluster: the name its WAL is archived under (default: DBM_PITR_CLUSTER of the server, or main)');
}

export function sourceFields(opts: Record<string, unknown>): Record<string, unknown> {
  return { paths: opts.paths, databases: opts.databases, buckets: opts.buckets, cluster: opts.cluster };
}
