/** The backup engine: repository format and operations. No n8n, no HTTP. */
export * from './errors';
export { openStorage, type S3Credentials } from './storage/location';
export type { S3Options } from './storage/s3';
export type { Storage, ObjectInfo } from './storage/storage';
export { LocalStorage } from './storage/local';
export { Repository, type OpenOptions, type InitOptions } from './repository/repository';
export { acquireLock, withLock, listLocks, removeStaleLocks, type LockInfo } from './repository/lock';
export { backupTree, backupStreams, newProgress, streamSource, type BackupOptions, type BackupProgress, type StreamEntry } from './archiver';
export { restoreTree, restoreStream, readContent, type RestoreOptions, type RestoreProgress } from './restorer';
export { checkRepository, type CheckOptions, type CheckReport } from './checker';
export { forgetSnapshots, groupOf, DEFAULT_GROUP_BY, RUN_TAGS, type ForgetOptions, type ForgetDecision, type GroupKey } from './forget';
export { prune, type PruneOptions, type PruneReport } from './prune';
export { applyPolicy, parseDuration, formatDuration, type RetentionPolicy } from './retention';
export {
  listSnapshots, findSnapshot, findParent, loadSnapshot, BACKUP_TYPES,
  type Snapshot, type SnapshotRef, type SnapshotStats, type BackupType,
} from './snapshot';
export { listSnapshotDir, openSnapshotFile, snapshotPathParts, type BrowseEntry } from './browse';
export { loadTree, type Tree, type TreeNode, type FileNode, type DirNode, type SymlinkNode } from './tree';
export { addPassphraseKey, addRecoveryKey, removeKey, rotateKeys, type RotationResult } from './keys';
export { generateRecoveryKeyPair, type KeySlot } from './crypto/keySlots';
export { checkSnapshot, saveVerificationReport, type SnapshotCheck } from './checker';
export { copySnapshot } from './copy';
export { verifyRestoredTree, type TreeVerification } from './verify';
export { repositoryStats, failedVerifications, type RepositoryStats } from './stats';
export { checkPath, checkDatabase, pathList, pathPolicyFromEnv, pathPolicyEnv, type PathPolicy, type PathUse } from './pathPolicy';
