import { NodeConnectionTypes, type IExecuteFunctions, type INodeExecutionData, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { forgetSnapshots, parseDuration, prune, type GroupKey, type RetentionPolicy } from '../../engine';
import { credentialTest } from '../shared/credentialTests';
import { eachItem } from '../shared/items';
import { openRepository } from '../shared/repository';

const KEEP: [string, keyof RetentionPolicy, string][] = [
  ['keepLast', 'last', 'Keep Last'],
  ['keepHourly', 'hourly', 'Keep Hourly'],
  ['keepDaily', 'daily', 'Keep Daily'],
  ['keepWeekly', 'weekly', 'Keep Weekly'],
  ['keepMonthly', 'monthly', 'Keep Monthly'],
  ['keepYearly', 'yearly', 'Keep Yearly'],
];

export class ApplyRetention implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Apply Retention',
    name: 'applyRetention',
    icon: { light: 'file:applyRetention.svg', dark: 'file:applyRetention.dark.svg' },
    group: ['transform'],
    version: 1,
    subtitle: '={{$parameter["dryRun"] ? "dry run" : "forget and prune"}}',
    description: 'Forget snapshots a keep-policy does not keep, per target, then prune the data no snapshot needs',
    defaults: { name: 'Apply Retention' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    usableAsTool: true,
    credentials: [{ name: 'dbmRepositoryApi', required: true, testedBy: 'dbmRepositoryTest' }],
    properties: [
      { displayName: 'Target', name: 'target', type: 'string', default: '', description: 'Only snapshots of this backup target; empty for all' },
      { displayName: 'Retention Days', name: 'retentionDays', type: 'number', default: 0, description: 'Keep every snapshot within this many days of the newest (0: not used)' },
      ...KEEP.map(([name, , displayName]) => ({ displayName, name, type: 'number' as const, default: 0, description: '0: not used' })),
      { displayName: 'Keep Within', name: 'keepWithin', type: 'string', default: '', placeholder: '30d', description: 'Keep everything within this duration of the newest snapshot (e.g. 12h, 30d, 1y)' },
      { displayName: 'Group By', name: 'groupBy', type: 'string', default: 'target,paths,tags', description: 'Policies apply per group: any of target, tags, host, paths (a job= tag names the run, not the source, and never makes a group)' },
      { displayName: 'Dry Run', name: 'dryRun', type: 'boolean', default: false, description: 'Whether to only report what would be removed, and why' },
      { displayName: 'Prune', name: 'prune', type: 'boolean', default: true, description: 'Whether to delete the data of forgotten snapshots afterwards' },
    ],
  };

  methods = { credentialTest };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const repo = await openRepository(await this.getCredentials('dbmRepositoryApi'));
    return eachItem(this, async (i) => {
      const policy: RetentionPolicy = {};
      for (const [param, rule] of KEEP) {
        const n = this.getNodeParameter(param, i, 0) as number;
        if (n > 0) policy[rule] = n;
      }
      const days = this.getNodeParameter('retentionDays', i, 0) as number;
      const within = this.getNodeParameter('keepWithin', i, '') as string;
      if (days > 0) policy.withinMs = days * 86_400_000;
      if (within) policy.withinMs = Math.max(policy.withinMs ?? 0, parseDuration(within));
      const dryRun = this.getNodeParameter('dryRun', i, false) as boolean;
      const decisions = await forgetSnapshots(repo, {
        policy,
        target: (this.getNodeParameter('target', i, '') as string) || undefined,
        groupBy: (this.getNodeParameter('groupBy', i, 'target,paths,tags') as string).split(',').map((g) => g.trim()).filter(Boolean) as GroupKey[],
        dryRun,
      });
      const pruned = !dryRun && this.getNodeParameter('prune', i, true) ? await prune(repo) : null;
      const row = (d: (typeof decisions)[number]) => ({ snapshotId: d.item.id, time: d.item.time, group: d.item.group, reasons: d.reasons });
      return {
        dryRun,
        kept: decisions.filter((d) => d.keep).map(row),
        removed: decisions.filter((d) => !d.keep).map(row),
        prune: pruned ? { ...pruned } : null,
      };
    });
  }
}
