/**
 * Row counts read off a plain-format dump as it streams past: each table's data is a block
 *
 *     COPY schema.table (col, …) FROM stdin;
 *     one line per row (COPY's text format escapes newlines inside values)
 *     \.
 *
 * so counting its lines gives the rows pg_dump dumped, with no second scan of every table on the
 * server (a `count(*)` of each, beside the dump, took ~8 % of bench:postgres's backup, issue 15;
 * on a large database it reads everything twice).
 *
 * A line that only looks like a header (in a function's body, say) or a name this does not parse
 * leaves counts that do not match the catalog's tables; `rowCountsFrom` then says so and the
 * caller counts with SQL instead. Nothing here is trusted beyond that check.
 */

const NEWLINE = 0x0a;
/** The line that ends a block. */
const TERMINATOR = Buffer.from('\\.\n');
/** How much of a line outside the data is kept to read a header from (a longer header is not read: the SQL count covers it). */
const HEAD_MAX = 64 * 1024;
/** pg_dump's header: names quoted unless all of [a-z0-9_]; a column list, or none for a table without columns (two spaces). */
const HEADER = /^COPY ("(?:[^"]|"")*"|[a-z_][a-z0-9_]*)\.("(?:[^"]|"")*"|[a-z_][a-z0-9_]*) (?:\(.*\))? FROM stdin;$/s;
const COPY = Buffer.from('COPY ');

function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident;
}

/** Parses a COPY header line (without its newline): its table as "schema.table", or null. */
export function copyHeaderTable(line: string): string | null {
  const m = HEADER.exec(line);
  return m ? `${unquote(m[1])}.${unquote(m[2])}` : null;
}

export class CopyRowCounter {
  private readonly counts = new Map<string, number>();
  /** a table named twice: the stream is not what it seems */
  private duplicated = false;
  /** the table whose data block is being read, or null between blocks */
  private table: string | null = null;
  private rows = 0;
  /** at the start of a line, and how many bytes of the terminator it has matched so far */
  private lineStart = true;
  private matched = 0;
  /** the start of the current line between blocks */
  private readonly head = Buffer.allocUnsafe(HEAD_MAX);
  private headLength = 0;

  /** The next piece of the dump, in order (only read during the call). */
  push(piece: Buffer): void {
    let at = 0;
    while (at < piece.length) at = this.table === null ? this.betweenBlocks(piece, at) : this.inBlock(piece, at);
  }

  /** Rows per table, or null when the stream did not end between blocks or named a table twice. */
  end(): Map<string, number> | null {
    return this.table !== null || this.duplicated ? null : this.counts;
  }

  /** Reads lines until a header starts a block; returns where it stopped. */
  private betweenBlocks(piece: Buffer, from: number): number {
    const newline = piece.indexOf(NEWLINE, from);
    const end = newline === -1 ? piece.length : newline;
    const take = Math.min(end - from, HEAD_MAX - this.headLength);
    piece.copy(this.head, this.headLength, from, from + take);
    this.headLength += take;
    if (newline === -1) return piece.length;
    const header = this.headLength < HEAD_MAX && this.head.subarray(0, COPY.length).equals(COPY);
    const table = header ? copyHeaderTable(this.head.toString('utf8', 0, this.headLength)) : null;
    this.headLength = 0;
    if (table !== null) {
      this.duplicated ||= this.counts.has(table);
      this.table = table;
      this.rows = 0;
      this.lineStart = true;
      this.matched = 0;
    }
    return newline + 1;
  }

  /** Counts rows until the terminator; returns where it stopped. */
  private inBlock(piece: Buffer, from: number): number {
    let at = from;
    while (at < piece.length) {
      if (this.lineStart) {
        while (this.matched < TERMINATOR.length && at < piece.length && piece[at] === TERMINATOR[this.matched]) {
          this.matched++;
          at++;
        }
        if (this.matched === TERMINATOR.length) {
          this.counts.set(this.table!, this.rows);
          this.table = null;
          return at;
        }
        if (at === piece.length) return at; // the terminator so far: the next piece decides
        // not the terminator: a row (a data line cannot start with "\." in COPY's text format, and a
        // lone "\" before the newline would be escaped), whose bytes matched so far are behind us
        this.lineStart = false;
        this.matched = 0;
      }
      const newline = piece.indexOf(NEWLINE, at);
      if (newline === -1) return piece.length;
      this.rows++;
      at = newline + 1;
      this.lineStart = true;
    }
    return at;
  }
}

/** A table as the catalog lists it, in the dump's snapshot. */
export interface CatalogTable {
  oid: number;
  schema: string;
  name: string;
  /** 'r' a table, 'p' a partitioned table */
  relkind: string;
  /** a member of an extension: pg_dump leaves its data to the extension (or dumps it filtered) */
  extension: boolean;
}

/** How countRows keys a table. */
export const tableKey = (t: Pick<CatalogTable, 'schema' | 'name'>): string => `${t.schema}.${t.name}`;

/**
 * Each table's row count as `count(*)` would give it (a parent's includes its inheritance children
 * and partitions), in the catalog's order, from the dump's own counts; null for a table they cannot
 * say (an extension's, a parent of a table not dumped), to count with SQL. Null for them all when
 * the dump's counts do not match the catalog (a table named twice, one missing, one unknown).
 */
export function rowCountsFrom(
  dumped: Map<string, number>,
  tables: CatalogTable[],
  /** [child, parent] pairs of pg_inherits */
  inherits: [number, number][],
): Map<CatalogTable, number | null> | null {
  const own = new Map<number, number>();
  const byKey = new Map(tables.map((t) => [tableKey(t), t]));
  for (const t of tables) {
    if (t.extension) continue;
    if (t.relkind === 'p') own.set(t.oid, 0); // its rows are its partitions'
    else {
      const rows = dumped.get(tableKey(t));
      if (rows === undefined) return null; // every table has a block, empty or not
      own.set(t.oid, rows);
    }
  }
  // a block for a table the catalog does not list (or lists as partitioned): not pg_dump's doing.
  // An extension's table may have one (its configuration rows, filtered): not counted from it.
  for (const key of dumped.keys()) {
    const t = byKey.get(key);
    if (!t || (t.relkind === 'p' && !t.extension)) return null;
  }
  const children = new Map<number, number[]>();
  for (const [child, parent] of inherits) {
    const siblings = children.get(parent);
    if (siblings) siblings.push(child);
    else children.set(parent, [child]);
  }
  const counts = new Map<CatalogTable, number | null>();
  for (const t of tables) {
    // itself and every descendant, each once (multiple inheritance can reach one twice)
    const family = new Set<number>([t.oid]);
    for (const oid of family) for (const child of children.get(oid) ?? []) family.add(child);
    let total: number | null = 0;
    for (const oid of family) {
      const rows = own.get(oid);
      // an extension's table, or one the catalog leaves out (foreign, another session's temporary): SQL knows
      total = rows === undefined || total === null ? null : total + rows;
    }
    counts.set(t, total);
  }
  return counts;
}
