import { describe, expect, it } from 'vitest';
import { findPgTool } from '../../engine/targets/postgres/tools';
import { childEnv, parsePgUrl } from '../../engine/targets/postgres/connection';
import { entryName } from '../../engine/targets/postgres/backup';

describe('PostgreSQL client tools', () => {
  it('takes a pg_dump at least as new as the server, and says which exist when none is', () => {
    const tool = findPgTool('pg_dump', 10);
    expect(tool.major).toBeGreaterThanOrEqual(10);
    expect(() => findPgTool('pg_dump', 99)).toThrow(/^no pg_dump of PostgreSQL 99 or newer found \(found: \d+ at \/.+\); install postgresql-client-99 or set DBM_PG_BIN$/);
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
