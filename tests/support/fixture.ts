/**
 * The Supabase-shaped fixture: `tests/fixtures/supabase_base.sql` (roles, managed schemas, auth and
 * storage tables of a new project) and `tests/fixtures/supabase_app.sql` (the project's own schemas
 * and rows), loaded as the superuser into one database of a test {@link Cluster}, plus content
 * fingerprints of tables for comparing a source with a restored copy.
 * @module
 */
import { join } from "node:path";
import { clientBinDir, REPO_ROOT } from "../../dev/pgenv.ts";
import type { Cluster } from "./cluster.ts";
import { outputFed } from "./feed.ts";

/**
 * The password of the `postgres` role after {@link loadFixture}: it holds every URL-special
 * character (`@ : / # % ?`), so a URL only works when percent-encoded.
 */
export const FIXTURE_PASSWORD = "p@ss:w/rd#50%?x";

/** Notable objects of the app fixture, as quoted qualified names where quoting is needed. */
export const FIXTURE = {
  /** Owned by supabase_admin with no grant: `postgres` gets "permission denied". */
  unreadableTable: "billing.secret_keys",
  /** Also unreadable by `postgres` (a managed schema). */
  vaultTable: "vault.secrets",
  /** Has no rows. */
  emptyTable: "public.waitlist",
  /** A schema whose name needs quoting (space, capitals, a double quote, non-ASCII). */
  quotedSchema: 'Sales "EU" é',
  /** A table whose name needs quoting, in the quoted schema. */
  quotedTable: '"Sales ""EU"" é"."Order Items ""2024"""',
  /** The partitioned parent and its partitions. */
  partitioned: "public.events",
  partitions: ["public.events_2024_h1", "public.events_2024_h2", "public.events_default"],
  view: "public.project_stats",
  materializedView: "public.daily_event_counts",
} as const;

/** A database holding the fixture. */
export interface FixtureDb {
  db: string;
  /** Connects as `postgres` (not a superuser) with {@link FIXTURE_PASSWORD}, percent-encoded. */
  url: string;
}

const FIXTURES_DIR = join(REPO_ROOT, "tests", "fixtures");

/** Loads on one cluster run one after another: the role statements are cluster-wide. */
const queues = new WeakMap<Cluster, Promise<unknown>>();

function quoteLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Loads the base fixture (and, unless `app: false`, the app fixture) into database `db` of `cluster`
 * as the superuser, sets the `postgres` password to {@link FIXTURE_PASSWORD}, and returns the
 * database and a URL that logs in as `postgres`. Throws with psql's stderr when a statement fails
 * (e.g. when `db` already holds the fixture).
 */
export function loadFixture(cluster: Cluster, db: string, opts: { app?: boolean } = {}): Promise<FixtureDb> {
  const app = opts.app ?? true;
  const job = (queues.get(cluster) ?? Promise.resolve()).catch(() => {}).then(async () => {
    const base = await Deno.readTextFile(join(FIXTURES_DIR, "supabase_base.sql"));
    await cluster.sql(`begin;\n${base}\ncommit;\n`, { db });
    await cluster.sql(`alter role postgres with login password ${quoteLiteral(FIXTURE_PASSWORD)};`, { db });
    if (app) {
      const appSql = await Deno.readTextFile(join(FIXTURES_DIR, "supabase_app.sql"));
      await cluster.sql(`begin;\n${appSql}\ncommit;\n`, { db });
    }
    return { db, url: cluster.url({ db, user: "postgres", password: FIXTURE_PASSWORD }) };
  });
  queues.set(cluster, job);
  return job;
}

/** The row count and content hash of one table. */
export interface TableFingerprint {
  rows: number;
  /** md5 of the rows' text forms, sorted and joined with newlines (md5 of "" when empty). */
  md5: string;
}

/**
 * Fingerprints tables, as the superuser so every table is readable. `tables` are SQL names
 * (`public.profiles`, `"Sales ""EU"" é"."Order Items ""2024"""`); without it, every ordinary table
 * and partition (relkind `r`; no partitioned parents, views or materialized views) outside
 * `pg_catalog`, `information_schema` and `pg_toast`. Keys are canonical quoted names
 * (`format('%I.%I')`), so two databases compare with `assertEquals`. `target` is a cluster (with the
 * database in `db`) or a superuser connection URL. Throws when a table does not exist.
 */
export async function tableFingerprints(
  target: Cluster | string,
  db?: string | string[],
  tables?: string[],
): Promise<Map<string, TableFingerprint>> {
  if (Array.isArray(db)) {
    tables = db;
    db = undefined;
  }
  const run = (sql: string) =>
    typeof target === "string" ? psqlUrl(target, sql) : target.sql(sql, { db: db as string | undefined });
  let names = tables;
  if (!names) {
    const list = await run(
      `select format('%I.%I', n.nspname, c.relname)
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')
          and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
        order by 1;`,
    );
    names = list.split("\n").filter((l) => l.length > 0);
  }
  if (names.length === 0) return new Map();
  const queries = names.map((name) => {
    const lit = quoteLiteral(name);
    return `select json_build_object(
        'name', (select format('%I.%I', n.nspname, c.relname) from pg_class c
                   join pg_namespace n on n.oid = c.relnamespace where c.oid = ${lit}::regclass),
        'rows', count(*),
        'md5', md5(coalesce(string_agg(fp_row_::text, E'\\n' order by fp_row_::text), '')))
      from ${name} as fp_row_;`;
  });
  const out = await run(queries.join("\n"));
  const result = new Map<string, TableFingerprint>();
  for (const line of out.split("\n").filter((l) => l.trim().length > 0)) {
    const o = JSON.parse(line) as { name: string; rows: number; md5: string };
    result.set(o.name, { rows: o.rows, md5: o.md5 });
  }
  return result;
}

async function psqlUrl(url: string, sql: string): Promise<string> {
  const child = new Deno.Command(join(clientBinDir(), "psql"), {
    args: ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await outputFed(child, sql);
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(`SQL failed: ${dec.decode(out.stderr).trim()}`);
  return dec.decode(out.stdout);
}
