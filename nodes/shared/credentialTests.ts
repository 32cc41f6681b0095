import type { ICredentialsDecrypted, ICredentialTestFunctions, INodeCredentialTestResult } from 'n8n-workflow';
import { describeError, listSnapshots } from '../../engine';
import { discoverBuckets, discoverDatabases } from '../../engine/targets';
import { openCatalog } from './catalog';
import { minioOf, openRepository, pgConnectionOf } from './repository';

/** Credential tests for the credentials that are not plain HTTP: each opens what the credential names. */
export const credentialTest = {
  async dbmRepositoryTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
    try {
      const repo = await openRepository(credential.data ?? {});
      const count = (await listSnapshots(repo)).length;
      return { status: 'OK', message: `Repository ${repo.config.id.slice(0, 8)} opened: ${count} snapshots` };
    } catch (err) {
      return { status: 'Error', message: describeError(err) };
    }
  },

  async dbmPostgresTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
    try {
      const dbs = await discoverDatabases(pgConnectionOf(credential.data ?? {}));
      return { status: 'OK', message: `Connected: ${dbs.length} databases` };
    } catch (err) {
      return { status: 'Error', message: describeError(err) };
    }
  },

  async dbmCatalogTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
    try {
      const pool = await openCatalog(credential.data ?? {});
      await pool.end();
      return { status: 'OK', message: 'Catalog reachable and up to date' };
    } catch (err) {
      return { status: 'Error', message: describeError(err) };
    }
  },

  async dbmMinioTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
    try {
      const buckets = await discoverBuckets(minioOf(credential.data ?? {}));
      return { status: 'OK', message: `Connected: ${buckets.length} buckets` };
    } catch (err) {
      return { status: 'Error', message: describeError(err) };
    }
  },
};
