import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPgTool, warmPgTools } from '../../engine/targets/postgres/tools';
import { childEnv, parsePgUrl } from '../../engine/targets/postgres/connection';
import { entryName } from '../../engine/targets/postgres/backup';

describe('PostgreSQL client tools', () => {
  it('takes a pg_dump at least as new as the server, and says which exist when none is', () => {
    const tool = findPgTool('pg_dump', 10);
    expect(tool.major).toBeGreaterThanOrEqual(10);
    expect(() => findPgTool('pg_dump', 99)).toThrow(/^no pg_dump of PostgreSQL 99 or newer found \(found: \d+ at \/.+\); install postgresql-client-99 or set DBM_PG_BIN$/);
  });

  it("passes over Debian's pg_wrapper for the program itself, and asks a program that changed again", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dbm-pgtools-'));
    try {
      const fake = (file: string, version: string): void => {
        writeFileSync(`${file}.new`, `#!/bin/sh\necho "pg_dump (PostgreSQL) ${version}"\n`);
        chmodSync(`${file}.new`, 0o755);
        renameSync(`${file}.new`, file);
      };
      // a wrapper that claims the newest version, as Debian's answers for the newest installed
      mkdirSync(path.join(dir, 'wrapper'));
      fake(path.join(dir, 'wrapper', 'pg_wrapper'), '98.0');
      symlinkSync(path.join(dir, 'wrapper', 'pg_wrapper'), path.join(dir, 'pg_dump'));
      expect(() => findPgTool('pg_dump', 98, dir)).toThrow(/no pg_dump of PostgreSQL 98/);

      rmSync(path.join(dir, 'pg_dump'));
      fake(path.join(dir, 'pg_dump'), '97.1');
      expect(findPgTool('pg_dump', 97, dir)).toEqual({ path: path.join(dir, 'pg_dump'), major: 97, version: '97.1' });
      fake(path.join(dir, 'pg_dump'), '98.20');
      expect(findPgTool('pg_dump', 97, dir)).toEqual({ path: path.join(dir, 'pg_dump'), major: 98, version: '98.20' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('asks the programs their versions ahead, once, without blocking: findPgTool then asks nothing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dbm-pgtools-'));
    try {
      const asked = path.join(dir, 'asked');
      for (const [tool, version] of [['pg_dump', '96.3'], ['pg_dumpall', '96.3']]) {
        writeFileSync(path.join(dir, tool), `#!/bin/sh\necho ${tool} >> ${asked}\necho "${tool} (PostgreSQL) ${version}"\n`);
        chmodSync(path.join(dir, tool), 0o755);
      }
      await warmPgTools(['pg_dump', 'pg_dumpall'], dir);
      expect(readFileSync(asked, 'utf8').split('\n').filter(Boolean).sort()).toEqual(['pg_dump', 'pg_dumpall']);
      expect(findPgTool('pg_dump', 96, dir)).toEqual({ path: path.join(dir, 'pg_dump'), major: 96, version: '96.3' });
      expect(findPgTool('pg_dumpall', 96, dir).version).toBe('96.3');
      await warmPgTools(['pg_dump'], dir);
      expect(readFileSync(asked, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PostgreSQL connections', () => {
  it('parses URLs and keeps the password out of everything but PGPASSWORD', () => {
    const conn = parsePgUrl('postgresql://app%20user:s%3Acret@db.example:6543/first?sslmode=require', {});
    expect(conn).toEqual({ host: 'db.example', port: 6543, user: 'app user', password: 's:cret', sslmode: 'require', database: 'first' });
    const env = childEnv(conn, '-x "db"');
    expect(env).toMatchObject({ PGHOST: 'db.example', PGPORT: '6543', PGUSER: 'app user', PGPASSWORD: 's:cret', PGSSLMODE: 'require', PGDATABASE: '-x "db"' });
    expect(parsePgUrl('postgresql://u@h/', { PGPASSWORD: 'from-env' }).password).toBe('from-env');
  });

  it('rejects what is not a PostgreSQL URL, naming the problem', () => {
    expect(() => parsePgUrl('mysql://h/db', {})).toThrow('must start with postgresql://, not mysql://');
    expect(() => parsePgUrl('not a url', {})).toThrow('is not a URL');
    expect(() => parsePgUrl('postgresql://h/db?sslmode=sometimes', {})).toThrow('sslmode "sometimes" is not one of');
  });

  it('turns any database name into a safe entry name', () => {
    expect(entryName('../../etc', 'custom')).toBe('..%2F..%2Fetc.dump');
    expect(entryName('-x "q" ünï', 'plain')).toBe('-x%20%22q%22%20%C3%BCn%C3%AF.sql');
  });
});
