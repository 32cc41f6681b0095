/** PostgreSQL clusters: physical base backups, the WAL archive, and point-in-time recovery. */
export * from './baseBackup';
export * from './pitr';
export * from './recover';
export * from './wal';
export * from './recoveryRunner';
export * from './commandLines';
export * from './walSpool';
export * from './walQueue';
export * from './walPrefetcher';
export * from './walScan';
export * from './pageChunks';
export * from './walArchiver';
