/**
 * For restore tests: one backup of a fresh PostgreSQL 17 database with the given SQL, and the
 * fingerprint of a target (its relations and their kinds) to compare before and after a restore.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { clientBinDir } from "../../dev/pgenv.ts";
import { runCli } from "./cli.ts";
import { type Cluster, sharedCluster } from "./cluster.ts";

/** The pg tools the CLI runs with. */
export const TOOLS = { PG_BIN: clientBinDir() };

/** The relations of `db` outside PostgreSQL's own schemas, as `schema.name:kind`, sorted. */
export async function fingerprint(c: Cluster, db: string): Promise<string> {
  return await c.sql(
    `select coalesce(string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ',' order by 1), '')
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'`,
    { db },
  );
}

/** Runs `fn` with a backup root holding one backup of a new database made with `setup`; removes it after. */
export async function withBackup(
  setup: string,
  fn: (c: Cluster, root: string) => Promise<void>,
): Promise<void> {
  const c = await sharedCluster(17);
  const src = await c.createDatabase();
  await c.sql(setup, { db: src });
  const root = await Deno.makeTempDir({ prefix: "restored-" });
  try {
    const b = await runCli(["backup", "--db-url", c.url({ db: src }), "--out", root, "--yes"], TOOLS);
    assertEquals(b.code, 0, b.stderr);
    await fn(c, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}
