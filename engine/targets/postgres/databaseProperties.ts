import type { Client } from 'pg';

/**
 * What a database is beyond its contents, which `pg_dump` without `--create`
 * leaves out: owner, encoding, locale and provider, tablespace, connection
 * limit, comment, settings (its own and per role) and privileges. Read at
 * backup time into the snapshot's manifest, and put back when a restore
 * creates the database (under its name or a new one).
 */
export interface DatabaseProperties {
  owner: string;
  encoding: string;
  collate: string;
  ctype: string;
  /** libc, icu or builtin (PostgreSQL 15+; null before) */
  localeProvider: 'libc' | 'icu' | 'builtin' | null;
  /** the ICU (or builtin) locale, when the provider is not libc */
  locale: string | null;
  tablespace: string;
  connectionLimit: number;
  comment: string | null;
  /** `ALTER DATABASE … SET`: name=value, as pg_db_role_setting keeps them */
  settings: string[];
  /** `ALTER ROLE … IN DATABASE … SET` */
  roleSettings: { role: string; settings: string[] }[];
  /** privileges granted on it; null: the defaults (CONNECT and TEMPORARY to PUBLIC) */
  grants: { grantee: string | null; privilege: string; grantable: boolean }[] | null;
}

/** `version`: the server's server_version_num, when the caller has it (one round trip fewer per database). */
export async function readDatabaseProperties(client: Client, database: string, version?: number): Promise<DatabaseProperties> {
  version ??= Number((await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0].v);
  const provider = version >= 150000 ? 'd.datlocprovider::text' : 'NULL::text';
  const locale = version >= 170000 ? 'd.datlocale' : version >= 150000 ? 'd.daticulocale' : 'NULL::text';
  const row = (
    await client.query<{ oid: number; owner: string; encoding: string; collate: string; ctype: string; provider: string | null; locale: string | null; tablespace: string; connlimit: number; comment: string | null; acl: boolean }>(
      `SELECT d.oid, pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, d.datctype AS ctype,
              ${provider} AS provider, ${locale} AS locale, t.spcname AS tablespace, d.datconnlimit AS connlimit,
              shobj_description(d.oid, 'pg_database') AS comment, d.datacl IS NOT NULL AS acl
         FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE d.datname = $1`,
      [database],
    )
  ).rows[0];
  if (!row) throw new Error(`no database ${JSON.stringify(database)}`);
  const settings = await client.query<{ role: string | null; config: string[] }>(
    `SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END AS role, s.setconfig AS config
       FROM pg_db_role_setting s WHERE s.setdatabase = $1 ORDER BY 1 NULLS FIRST`,
    [row.oid],
  );
  const grants = row.acl
    ? (
        await client.query<{ grantee: string | null; privilege: string; grantable: boolean }>(
          `SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
             FROM pg_database d, aclexplode(d.datacl) a WHERE d.oid = $1 ORDER BY 1 NULLS FIRST, 2`,
          [row.oid],
        )
      ).rows
    : null;
  const providers: Record<string, DatabaseProperties['localeProvider']> = { c: 'libc', i: 'icu', b: 'builtin' };
  return {
    owner: row.owner,
    encoding: row.encoding,
    collate: row.collate,
    ctype: row.ctype,
    localeProvider: row.provider ? (providers[row.provider] ?? null) : null,
    locale: row.provider && row.provider !== 'c' ? row.locale : null,
    tablespace: row.tablespace,
    connectionLimit: row.connlimit,
    comment: row.comment,
    settings: settings.rows.find((s) => s.role === null)?.config ?? [],
    roleSettings: settings.rows.filter((s) => s.role !== null).map((s) => ({ role: s.role as string, settings: s.config })),
    grants,
  };
}

/** The properties with another owner: what the old owner had (its grants, its settings in the database) goes to the new one. */
export function withOwner(p: DatabaseProperties, owner: string | undefined): DatabaseProperties {
  if (!owner || owner === p.owner) return p;
  const swap = (role: string) => (role === p.owner ? owner : role);
  return {
    ...p,
    owner,
    roleSettings: p.roleSettings.map((r) => ({ ...r, role: swap(r.role) })),
    grants: p.grants?.map((g) => ({ ...g, grantee: g.grantee === null ? null : swap(g.grantee) })) ?? null,
  };
}

/** The roles a database's properties name: they must exist where it is restored. */
export function rolesNamed(p: DatabaseProperties): string[] {
  return [...new Set([p.owner, ...p.roleSettings.map((r) => r.role), ...(p.grants ?? []).flatMap((g) => (g.grantee ? [g.grantee] : []))])];
}

type Quote = { ident(s: string): string; literal(s: string): string };

/** The options of CREATE DATABASE that can only be given then (encoding, locale, provider), and the owner and the rest. */
export function createDatabaseOptions(p: DatabaseProperties, q: Quote, serverVersion: number): string {
  const options = [`TEMPLATE template0`, `OWNER ${q.ident(p.owner)}`, `ENCODING ${q.literal(p.encoding)}`, `LC_COLLATE ${q.literal(p.collate)}`, `LC_CTYPE ${q.literal(p.ctype)}`];
  if (p.localeProvider && serverVersion >= 150000) {
    options.push(`LOCALE_PROVIDER ${p.localeProvider}`);
    if (p.locale) options.push(`${p.localeProvider === 'builtin' ? 'BUILTIN_LOCALE' : 'ICU_LOCALE'} ${q.literal(p.locale)}`);
  }
  options.push(`TABLESPACE ${q.ident(p.tablespace)}`, `CONNECTION LIMIT ${p.connectionLimit}`);
  return options.join(' ');
}

/** GUCs whose values are lists of quoted names (PostgreSQL's GUC_LIST_QUOTE): each element is its own literal. */
const LIST_QUOTED = new Set(['search_path', 'temp_tablespaces', 'session_preload_libraries', 'shared_preload_libraries', 'local_preload_libraries', 'unix_socket_directories']);

/** `name=value` as pg_db_role_setting keeps it, as the `SET …` clause of ALTER DATABASE / ALTER ROLE. */
export function setClause(setting: string, q: Quote): string {
  const eq = setting.indexOf('=');
  const name = setting.slice(0, eq);
  const value = setting.slice(eq + 1);
  if (!LIST_QUOTED.has(name.toLowerCase())) return `SET ${q.ident(name)} TO ${q.literal(value)}`;
  const items: string[] = [];
  for (const m of value.matchAll(/\s*(?:"((?:[^"]|"")*)"|([^,]*?))\s*(?:,|$)/g)) {
    if (m.index === value.length && m[0] === '') break;
    items.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]);
  }
  return `SET ${q.ident(name)} TO ${items.map((i) => q.literal(i)).join(', ')}`;
}

/** What is set once the database exists: comment, settings, per-role settings and privileges. */
export function propertyStatements(database: string, p: DatabaseProperties, q: Quote): string[] {
  const db = q.ident(database);
  const out: string[] = [];
  if (p.comment !== null) out.push(`COMMENT ON DATABASE ${db} IS ${q.literal(p.comment)}`);
  for (const s of p.settings) out.push(`ALTER DATABASE ${db} ${setClause(s, q)}`);
  for (const r of p.roleSettings) for (const s of r.settings) out.push(`ALTER ROLE ${q.ident(r.role)} IN DATABASE ${db} ${setClause(s, q)}`);
  if (p.grants) {
    // as pg_dump does: from the defaults to exactly the recorded privileges
    out.push(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
    for (const g of p.grants) out.push(`GRANT ${g.privilege} ON DATABASE ${db} TO ${g.grantee ? q.ident(g.grantee) : 'PUBLIC'}${g.grantable ? ' WITH GRANT OPTION' : ''}`);
  }
  return out;
}
