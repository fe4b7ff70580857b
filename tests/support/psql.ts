/**
 * Running psql 17 (the provisioned client) against a test cluster, stopping at the first error;
 * waiting for a backup's pg_dump to be copying data.
 * @module
 */
import { clientBinDir } from "../../dev/pgenv.ts";
import type { Cluster } from "./cluster.ts";

/**
 * Runs `psql -X -q -v ON_ERROR_STOP=1 -d <db as superuser> <args>` with `env` added; returns its
 * stdout and stderr. Throws an Error holding psql's stderr when it fails.
 */
export async function psql(
  c: Cluster,
  db: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const out = await new Deno.Command(`${clientBinDir()}/psql`, {
    args: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.url({ db }), ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  if (out.code !== 0) throw new Error(`psql ${args.join(" ")} failed: ${err}`);
  return new TextDecoder().decode(out.stdout) + err;
}

/**
 * Waits until a session of `db` runs a query that matches `like` (an ILIKE pattern), polling every
 * `pollMs`; throws `never` after `ms`.
 */
export async function waitForActivity(
  c: Cluster,
  db: string,
  like: string,
  never: string,
  ms = 60_000,
  pollMs = 50,
): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const n = await c.sql(
      `select count(*) from pg_stat_activity where datname = '${db}' and query ilike '${like}'`,
    );
    if (Number(n.trim()) > 0) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(never);
}

/** Waits until pg_dump is copying table data out of `db` (a COPY … TO stdout); throws after `ms`. */
export function waitForDump(c: Cluster, db: string, ms = 60_000): Promise<void> {
  return waitForActivity(c, db, "copy %to stdout%", "pg_dump never started", ms);
}
