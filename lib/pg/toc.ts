/**
 * Reading a custom-format dump's table of contents (`pg_restore -l`) and assigning each entry to
 * the table it belongs to, so that per-table schema.sql and data.sql can be cut out of one schema
 * dump with `pg_restore -L`. Pure.
 * @module
 */
import { unquoteName } from "./ident.ts";

/** One line of `pg_restore -l`. */
export interface TocEntry {
  /** The whole line, as pg_restore -L wants it back. */
  line: string;
  dumpId: number;
  catalogOid: number;
  objectOid: number;
  /** e.g. `TABLE`, `TABLE DATA`, `FK CONSTRAINT`. */
  desc: string;
  /** Everything after the description: `<namespace> <tag> <owner>`. */
  rest: string;
}

const DESCS = [
  "MATERIALIZED VIEW DATA",
  "SEQUENCE OWNED BY",
  "CHECK CONSTRAINT",
  "DEFAULT ACL",
  "FK CONSTRAINT",
  "INDEX ATTACH",
  "ROW SECURITY",
  "SECURITY LABEL",
  "SEQUENCE SET",
  "TABLE ATTACH",
  "TABLE DATA",
  "LARGE OBJECT",
  "BLOB",
  "MATERIALIZED VIEW",
  "FOREIGN TABLE",
  "EVENT TRIGGER",
  "PUBLICATION TABLE",
  "PUBLICATION TABLES IN SCHEMA",
  "CONSTRAINT",
  "COMMENT",
  "ACL",
  "DEFAULT",
  "INDEX",
  "POLICY",
  "RULE",
  "SEQUENCE",
  "STATISTICS",
  "TABLE",
  "TRIGGER",
];

/** Parses the output of `pg_restore -l`; comment lines are dropped. */
export function parseToc(text: string): TocEntry[] {
  const out: TocEntry[] = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^(\d+); (\d+) (\d+) (.*)$/);
    if (!m) continue;
    const body = m[4];
    const desc = DESCS.find((d) => body.startsWith(d + " ")) ?? body.split(" ")[0];
    out.push({
      line,
      dumpId: Number(m[1]),
      catalogOid: Number(m[2]),
      objectOid: Number(m[3]),
      desc,
      rest: body.slice(desc.length + 1),
    });
  }
  return out;
}

/** Catalog facts, read in the backup's snapshot, that tie objects to their table. */
export interface TableCatalog {
  /** Table oid → table name, for the schema being split. */
  tables: Map<number, string>;
  /** Oid of an index, constraint, trigger, policy, default, rule or owned sequence → table oid. */
  owners: Map<number, number>;
  /** Name of an index or owned sequence in this schema → table oid. */
  namedOwners: Map<string, number>;
  /** Role names (owners appear at the end of each TOC line). */
  roles: ReadonlySet<string>;
}

/** Per-table lists of TOC lines: definition entries and data entries. */
export interface TableToc {
  schemaLines: string[];
  dataLines: string[];
}

const DATA_DESCS = new Set(["TABLE DATA", "SEQUENCE SET"]);

/**
 * Strips `<namespace> ` in front and ` <owner>` at the end, leaving the tag (the schema and role names
 * as `pg_restore -l` lists them: a line break as a space).
 */
export function tagOf(entry: TocEntry, schema: string, roles: ReadonlySet<string>): string {
  let rest = entry.rest;
  const ns = listedName(schema);
  if (rest.startsWith(ns + " ")) rest = rest.slice(ns.length + 1);
  else if (rest.startsWith("- ")) rest = rest.slice(2);
  let best = "";
  for (const role of [...roles, "-"]) {
    const r = listedName(role);
    if (r.length > best.length && rest.endsWith(" " + r)) best = r;
  }
  return best ? rest.slice(0, rest.length - best.length - 1) : rest;
}

/** A name as `pg_restore -l` lists it: each line break a space. */
function listedName(name: string): string {
  return name.replace(/[\r\n]/g, " ");
}

/**
 * Names as `pg_restore -l` lists them (a line break becomes a space) → oid; a listed name that two
 * objects share maps to undefined: its entries stay only in the schema dump, never with the wrong table.
 */
function byListedName(names: Iterable<[string, number]>): Map<string, number | undefined> {
  const out = new Map<string, number | undefined>();
  for (const [name, oid] of names) {
    const key = listedName(name);
    out.set(key, out.has(key) && out.get(key) !== oid ? undefined : oid);
  }
  return out;
}

function tableOfTag(
  tag: string,
  byName: Map<string, number | undefined>,
  named: Map<string, number | undefined>,
): number | undefined {
  // COMMENT / ACL / SECURITY LABEL: "TABLE name", "COLUMN name.col", "SEQUENCE name", each name as
  // pg_dump quotes it (fmtId: "Users", "café", "order").
  const kind = tag.match(/^(TABLE|COLUMN|SEQUENCE) ([\s\S]*)$/);
  if (kind) {
    if (kind[1] === "TABLE") return byName.get(unquoteName(kind[2]));
    if (kind[1] === "SEQUENCE") return named.get(unquoteName(kind[2]));
    const table = kind[2].match(/^("(?:[^"]|"")*"|[^."]+)\./)?.[1];
    return table === undefined ? undefined : byName.get(unquoteName(table));
  }
  // SEQUENCE SET, SEQUENCE OWNED BY, INDEX ATTACH (tag is the sequence or index), TABLE ATTACH.
  return named.has(tag) ? named.get(tag) : byName.get(tag);
}

/**
 * Assigns TOC entries of one schema's dump to its tables. Entries that belong to no table (types,
 * functions, views, …) stay only in the schema dump. Returns table oid → its lines, in dump order.
 */
export function assignToTables(
  entries: TocEntry[],
  schema: string,
  catalog: TableCatalog,
): Map<number, TableToc> {
  const byName = byListedName([...catalog.tables].map(([oid, name]) => [name, oid]));
  const named = byListedName(catalog.namedOwners);
  const out = new Map<number, TableToc>();
  for (const oid of catalog.tables.keys()) out.set(oid, { schemaLines: [], dataLines: [] });
  for (const e of entries) {
    let table: number | undefined;
    if (e.objectOid !== 0) {
      table = catalog.tables.has(e.objectOid) ? e.objectOid : catalog.owners.get(e.objectOid);
    } else {
      table = tableOfTag(tagOf(e, schema, catalog.roles), byName, named);
    }
    if (table === undefined || !out.has(table)) continue;
    const t = out.get(table)!;
    (DATA_DESCS.has(e.desc) ? t.dataLines : t.schemaLines).push(e.line);
  }
  return out;
}
