import { describe, expect, it } from 'vitest';
import { copyHeaderTable, CopyRowCounter, rowCountsFrom, type CatalogTable } from '../../engine/targets/postgres/copyRows';

/** What pg_dump's plain format looks like around the data, with the rows that could confuse a counter. */
const DUMP = [
  '--',
  '-- PostgreSQL database dump',
  '--',
  'CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;',
  '',
  '--',
  '-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: postgres',
  '--',
  '',
  'COPY public.orders (id, note, total) FROM stdin;',
  '1\tfirst\t10.00',
  '2\t\\N\t20.00', // NULL
  '3\t\\\\.\t30.00', // a value starting with a backslash and a dot, escaped
  '\\\\.', // a row that is just that value, in a one-column view of it
  '4\tline one\\nline two\t40.00', // an embedded newline, escaped
  '\\.',
  '',
  'COPY "Billing Dept"."Invoices ""2026""" (n, body) FROM stdin;',
  '1\tünïcode ✓',
  '\\.',
  '',
  'COPY public.empty (a) FROM stdin;',
  '\\.',
  '',
  'COPY public.nocolumns  FROM stdin;',
  '',
  '',
  '\\.',
  '',
  'COPY public.single (s) FROM stdin;',
  '',
  '\\N',
  '\\.',
  '',
  '-- PostgreSQL database dump complete',
  '',
].join('\n');

const EXPECTED = { 'public.orders': 5, 'Billing Dept.Invoices "2026"': 1, 'public.empty': 0, 'public.nocolumns': 2, 'public.single': 2 };

function countIn(pieces: Buffer[]): Record<string, number> | null {
  const counter = new CopyRowCounter();
  for (const p of pieces) counter.push(p);
  const counts = counter.end();
  return counts && Object.fromEntries(counts);
}

describe('row counts read off a plain dump', () => {
  it('counts each block, whole or in pieces cut anywhere, byte by byte too', () => {
    const bytes = Buffer.from(DUMP);
    expect(countIn([bytes])).toEqual(EXPECTED);
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(countIn([bytes.subarray(0, cut), bytes.subarray(cut)]), `cut at ${cut}`).toEqual(EXPECTED);
    }
    expect(countIn([...bytes].map((b) => Buffer.from([b])))).toEqual(EXPECTED);
  });

  it('reads the table from pg_dump headers only', () => {
    expect(copyHeaderTable('COPY public.orders (id, note) FROM stdin;')).toBe('public.orders');
    expect(copyHeaderTable('COPY "a.b"."c ""d""" ("x)", y) FROM stdin;')).toBe('a.b.c "d"');
    expect(copyHeaderTable('COPY public.t  FROM stdin;')).toBe('public.t');
    expect(copyHeaderTable('COPY public.t (a) TO stdout;')).toBeNull();
    expect(copyHeaderTable('COPY t (a) FROM stdin;')).toBeNull(); // pg_dump always qualifies
    expect(copyHeaderTable('COPY Public.t (a) FROM stdin;')).toBeNull(); // it would have quoted that
    expect(copyHeaderTable('  COPY public.t (a) FROM stdin;')).toBeNull();
  });

  it('gives up on a stream that names a table twice or ends inside a block', () => {
    // a function's body holding a line that looks like a header, and its block
    const forged = 'CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS $$\nCOPY public.orders (id) FROM stdin;\n1\n\\.\n$$;\n';
    expect(countIn([Buffer.from(forged + DUMP)])).toBeNull();
    expect(countIn([Buffer.from('COPY public.orders (id) FROM stdin;\n1\n2\n')])).toBeNull();
  });
});

describe('row counts as count(*) gives them, from the dump where it can say them', () => {
  const table = (oid: number, name: string, relkind = 'r', extension = false): CatalogTable => ({ oid, schema: 'public', name, relkind, extension });
  const byName = (m: Map<CatalogTable, number | null> | null) => m && Object.fromEntries([...m].map(([t, n]) => [t.name, n]));

  it('adds partitions and inheritance children to their parents, and leaves to SQL what the dump cannot say', () => {
    const tables = [
      table(1, 'events', 'p'),
      table(2, 'events_2025'),
      table(3, 'events_2026'),
      table(4, 'animals'),
      table(5, 'cats'),
      table(6, 'config', 'r', true), // an extension's
      table(7, 'remote_parent', 'p'), // one partition is a foreign table: not in the list, not dumped
    ];
    const dumped = new Map([
      ['public.events_2025', 10],
      ['public.events_2026', 5],
      ['public.animals', 2],
      ['public.cats', 3],
      ['public.config', 1], // its filtered rows: not what count(*) says
    ]);
    const inherits: [number, number][] = [[2, 1], [3, 1], [5, 4], [99, 7]];
    expect(byName(rowCountsFrom(dumped, tables, inherits))).toEqual({
      events: 15, events_2025: 10, events_2026: 5, animals: 5, cats: 3, config: null, remote_parent: null,
    });
  });

  it('trusts none of it when a table is missing or unknown', () => {
    const tables = [table(1, 'a'), table(2, 'b')];
    expect(rowCountsFrom(new Map([['public.a', 1]]), tables, [])).toBeNull();
    expect(rowCountsFrom(new Map([['public.a', 1], ['public.b', 2], ['public.c', 3]]), tables, [])).toBeNull();
    expect(rowCountsFrom(new Map([['public.a', 1], ['public.b', 2], ['public.p', 3]]), [...tables, table(3, 'p', 'p')], [])).toBeNull();
    expect(byName(rowCountsFrom(new Map([['public.a', 1], ['public.b', 2]]), tables, []))).toEqual({ a: 1, b: 2 });
  });
});
