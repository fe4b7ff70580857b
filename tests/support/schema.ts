/**
 * Comparing database schemas in tests: `pg_dump --schema-only` of a database as a sorted list of its
 * entries, normalised.
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { clientBinDir } from "../../dev/pgenv.ts";
import type { Cluster } from "./cluster.ts";

/**
 * `pg_dump --schema-only` of a database as a sorted list of its entries, without `\restrict` lines,
 * user mapping entries and the `SET default_tablespace`/`default_table_access_method` lines that
 * pg_dump writes where they change (they depend on the order of entries with equal sort keys). In UTF-8,
 * whatever the database's encoding (so that databases of two encodings compare).
 */
export async function schemaEntries(c: Cluster, db: string): Promise<string[]> {
  const r = await new Deno.Command(`${clientBinDir()}/pg_dump`, {
    args: ["--schema-only", "--no-subscriptions", "--encoding=UTF8", "-d", c.url({ db })],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(r.code === 0, new TextDecoder().decode(r.stderr));
  const text = new TextDecoder().decode(r.stdout)
    .replace(/^(\\(un)?restrict |SET default_tablespace |SET default_table_access_method ).*\n/gm, "");
  return text.split("\n--\n-- Name: ").filter((b) => !/^[^\n]*; Type: USER MAPPING;/.test(b))
    .map((b) => b.trim()).sort();
}
