/**
 * Many schemas, few pg_dump runs: the schemas of a backup are put into at most `--jobs` groups
 * ({@link planGroups}); a group of several schemas is dumped by one pg_dump (one connection, one
 * catalog read) into one custom-format archive, which is then cut into one archive per schema
 * ({@link routeEntries}, lib/pg/archive.ts), each what `pg_dump --schema` of that schema would hold:
 * its entries (with the database's ENCODING, STDSTRINGS and SEARCHPATH entries), their data blocks
 * as pg_dump compressed them, and dependencies among them (those that went through another schema's
 * entries followed through to this schema's). Pure.
 * @module
 */
import { type ArchiveEntry, ArchiveError } from "../pg/archive.ts";

/** A schema to place: its name and how much work its dump is (any unit, the same for all). */
export interface GroupInput {
  name: string;
  weight: number;
}

/** What one table costs a dump besides its data (a COPY and its round trips), counted as bytes. */
export const TABLE_COST = 64 << 10;

/**
 * The work of dumping a schema, in bytes: its tables' estimated size, plus a fixed cost per table
 * ({@link TABLE_COST}) and per schema.
 */
export function schemaWeight(tables: { bytes?: number }[]): number {
  return (1 << 20) + tables.reduce((n, t) => n + (t.bytes ?? 0) + TABLE_COST, 0);
}

/**
 * Puts the schemas into `min(jobs, schemas)` groups of about equal weight (the heaviest first, each
 * into the lightest group so far), each group in the schemas' given order, the groups in the order
 * of their first schema. With no more schemas than jobs, every schema is a group of its own.
 */
export function planGroups(schemas: GroupInput[], jobs: number): string[][] {
  const n = Math.max(1, Math.min(jobs, schemas.length));
  const order = new Map(schemas.map((s, i) => [s.name, i]));
  const groups = Array.from({ length: n }, () => ({ weight: 0, names: [] as string[] }));
  const heaviest = [...schemas].sort((a, b) =>
    b.weight - a.weight || order.get(a.name)! - order.get(b.name)!
  );
  for (const s of heaviest) {
    const g = groups.reduce((best, x) => (x.weight < best.weight ? x : best));
    g.weight += s.weight;
    g.names.push(s.name);
  }
  return groups
    .filter((g) => g.names.length > 0)
    .map((g) => g.names.sort((a, b) => order.get(a)! - order.get(b)!))
    .sort((a, b) => order.get(a[0])! - order.get(b[0])!);
}

/**
 * Entries every archive of pg_dump has, whatever it selects: the session settings pg_restore reads,
 * and the database itself (restored only with `--create`).
 */
const EVERY = new Set(["ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE", "DATABASE PROPERTIES"]);

/** One entry of a schema's archive, with its dependencies within that archive. */
export interface RoutedEntry {
  entry: ArchiveEntry;
  deps: number[];
}

/**
 * Which schema of `schemas` each entry of a group's archive belongs to, and the entries of each
 * schema's archive in the group's order: an entry with a namespace goes to that schema; a SCHEMA
 * entry to the schema it names; an EXTENSION to the schema it is installed in (`extensionSchema`);
 * another entry without a namespace (a comment, ACL or security label on a schema or extension) to
 * the schema of the entries it depends on; ENCODING, STDSTRINGS, SEARCHPATH, the DATABASE entries and
 * what depends only on them to every schema.
 * Throws {@link ArchiveError} for an entry it cannot place with certainty.
 */
export function routeEntries(
  entries: ArchiveEntry[],
  schemas: string[],
  extensionSchema: ReadonlyMap<string, string>,
): Map<string, RoutedEntry[]> {
  const inGroup = new Set(schemas);
  const schemaOf = new Map<number, string | null>(); // null: every schema
  const byId = new Map(entries.map((e) => [e.dumpId, e]));
  const where = (e: ArchiveEntry): string | null => {
    if (EVERY.has(e.desc) && !e.namespace) return null;
    let s: string | undefined;
    if (e.namespace) s = e.namespace;
    else if (e.desc === "SCHEMA") s = e.tag ?? undefined;
    else if (e.desc === "EXTENSION") s = e.tag === null ? undefined : extensionSchema.get(e.tag);
    else {
      const at = e.deps.map((d) => schemaOf.get(d));
      const of = new Set(at.filter((x): x is string => !!x));
      // On the database (a comment, security label): in every archive, as its parent.
      if (of.size === 0 && at.length > 0 && at.every((x) => x === null)) return null;
      if (of.size === 1) s = [...of][0];
      else if (of.size > 1) {
        throw new ArchiveError(`TOC entry ${e.dumpId} (${e.desc} ${e.tag}) depends on several schemas`);
      }
    }
    if (s === undefined || !inGroup.has(s)) {
      throw new ArchiveError(`TOC entry ${e.dumpId} (${e.desc} ${e.tag}) belongs to no schema of its dump`);
    }
    return s;
  };
  for (const e of entries) schemaOf.set(e.dumpId, where(e));
  const out = new Map<string, RoutedEntry[]>(schemas.map((s) => [s, []]));
  for (const s of schemas) {
    const mine = (id: number) => {
      const at = schemaOf.get(id);
      return at === null || at === s;
    };
    // A dependency on another schema's entry stands for that entry's own dependencies, followed
    // through until they reach this schema's entries (as pg_dump does through objects it leaves out).
    const through = new Map<number, number[]>();
    const resolve = (id: number, seen: Set<number>): number[] => {
      if (mine(id)) return [id];
      const known = through.get(id);
      if (known) return known;
      const e = byId.get(id);
      if (!e || seen.has(id)) return [];
      seen.add(id);
      const r = [...new Set(e.deps.flatMap((d) => resolve(d, seen)))];
      seen.delete(id);
      through.set(id, r);
      return r;
    };
    for (const e of entries) {
      if (!mine(e.dumpId)) continue;
      const deps = [...new Set(e.deps.flatMap((d) => resolve(d, new Set())))];
      out.get(s)!.push({ entry: e, deps });
    }
  }
  return out;
}
