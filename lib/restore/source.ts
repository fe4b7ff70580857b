/**
 * Which of a backup's files a restore reads, known before the target is looked at: used to write out
 * only those of a backup that git history holds (`restore --as-of` of a pruned backup). Pure.
 * @module
 */
import type { Manifest } from "../store/manifest.ts";
import { type RestoreRequest, selectTables } from "./plan.ts";

/**
 * The files of `m` that a restore of `req` may read: every file for a whole restore or `--schema`
 * (the dumps and, checked too, every table's files); with `--table`, all but the schema.sql and data
 * files of the tables not selected (the schema dumps stay: a table's types and functions come from
 * them). Throws the usage error of {@link selectTables} for a table the backup does not hold.
 */
export function neededFiles(m: Manifest, req: RestoreRequest): string[] {
  const all = Object.keys(m.files);
  if (req.tables.length === 0) return all;
  const chosen = new Set(selectTables(m, req).map((x) => x.table));
  const skip = new Set<string>();
  for (const s of m.schemas) {
    for (const t of s.tables) {
      if (chosen.has(t)) continue;
      skip.add(t.schemaFile);
      for (const f of t.dataFiles) skip.add(f);
    }
  }
  return all.filter((f) => !skip.has(f));
}
