/**
 * `deno task bench:diff`: times `diff` of two backups of the benchmark database (bench/dataset.ts)
 * with 1% of the rows changed in between (0.5% updated, 0.25% deleted, 0.25% inserted, in every
 * table), against a pg_dump-based diff of the same data: two data-only plain dumps taken at the same
 * two points, compared with diff(1). Reports wall time and peak RSS of each (as `deno task backup`
 * runs the tool: --v8-flags=--max-semi-space-size=1), and checks that our diff counts exactly the
 * changes made. Progress goes to stderr; the report (a table, then JSON) to stdout. Not a test.
 *
 *   deno task bench:diff [--mb 1024] [--tables 20] [--keep DIR]
 *
 * `--help` lists the flags; a bad flag or value stops it with one `error:` and one `hint:` line, exit 2.
 * @module
 */
import { join } from "node:path";
import { startCluster } from "../tests/support/cluster.ts";
import { REPO } from "../tests/support/paths.ts";
import { clientBinDir } from "../dev/pgenv.ts";
import { type DatasetTable, planDataset, tableSql } from "./dataset.ts";
import { measure, type Measurement } from "./measure.ts";
import { mib, secs } from "./report.ts";
import { intArg, parseBenchArgs, runBench } from "./args.ts";

const log = (l: string) => console.error(`bench: ${l}`);

/** Rows of `t` hit by a change: those whose key hashes to `bucket` of `of` buckets. */
function hit(of: number, bucket: number): string {
  return `abs(hashtext(id::text)) % ${of} = ${bucket}`;
}

/**
 * The 1% change of one table: 0.5% of its rows updated, 0.25% deleted (not in tables other tables
 * point at), 0.25% inserted (copies of other rows under new keys). Returns the SQL and the counts it
 * makes, for checking the diff.
 */
export function changeSql(t: DatasetTable, parents: ReadonlySet<string>): string {
  const q = `${t.schema}.${t.name}`;
  const update = t.shape === "event"
    ? `UPDATE ${q} SET label = label || '-changed' WHERE ${hit(200, 0)};`
    : t.shape === "account"
    ? `UPDATE ${q} SET score = score + 1 WHERE ${hit(200, 0)};`
    : `UPDATE ${q} SET amount = amount + 1 WHERE ${hit(200, 0)};`;
  const del = parents.has(t.name) ? "" : `DELETE FROM ${q} WHERE ${hit(400, 1)};`;
  const newId = t.shape === "account" ? "md5('new' || id::text)::uuid" : "id + 1000000000";
  const cols = t.shape === "event"
    ? "kind, label, payload, created_at"
    : t.shape === "account"
    ? "email, display_name, score, meta, updated_at"
    : "parent_id, amount, note, booked_at";
  const ins = `INSERT INTO ${q} SELECT ${newId}, ${cols} FROM ${q} WHERE ${hit(400, 2)};`;
  return [update, del, ins].filter(Boolean).join("\n");
}

async function run(cmd: string, args: string[], env: Record<string, string>, cwd?: string) {
  const out = await new Deno.Command(cmd, { args, env, cwd, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

const TASK = "bench:diff";

/** What `--help` prints. */
export const USAGE = `usage: deno task ${TASK} [options]
  --mb N         table data of the bench database, in MB (default 1024)
  --tables N     its tables (default 20)
  --keep DIR     build in DIR and leave the backups and dumps there (to profile the diff alone)
  --help         this text`;

/** The flags of `bench:diff`. */
export interface DiffBenchArgs {
  mb: number;
  tables: number;
  keep?: string;
}

/** The flags of `bench:diff`, as parseArgs takes them. */
export const FLAGS = {
  mb: { type: "string" },
  tables: { type: "string" },
  keep: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The bench's flags (pure): undefined for `--help`. Throws a usage BackupError for a bad flag or value. */
export function parseDiffArgs(argv: string[]): DiffBenchArgs | undefined {
  const values = parseBenchArgs(TASK, argv, FLAGS);
  if (values.help) return undefined;
  return {
    mb: intArg(TASK, "mb", values.mb, 1024, 1),
    tables: intArg(TASK, "tables", values.tables, 20, 1),
    ...(values.keep === undefined ? {} : { keep: values.keep }),
  };
}

async function main() {
  const args = parseDiffArgs(Deno.args);
  if (!args) return console.log(USAGE);
  const spec = { tables: args.tables, mb: args.mb };
  const tables = planDataset(spec);
  const parents = new Set(tables.flatMap((t) => (t.parent ? [t.parent] : [])));
  const bin = clientBinDir();
  const work = args.keep ?? await Deno.makeTempDir({ prefix: "supabase-backup-bench-diff-" });
  await Deno.mkdir(work, { recursive: true });
  log(`starting PostgreSQL 17 (work dir ${work})`);
  const c = await startCluster(17);
  try {
    const db = await c.createDatabase("bench");
    log(`building ${spec.tables} tables, ~${spec.mb} MB`);
    for (let i = 0; i < tables.length; i += 5) {
      await c.sql(tables.slice(i, i + 5).map((t) => tableSql(t, tables)).join("\n"), { db });
      log(`loaded ${Math.min(i + 5, tables.length)}/${tables.length} tables`);
    }
    await c.sql("VACUUM (FREEZE, ANALYZE)", { db });
    const tableBytes = Number(
      (await c.sql(
        "SELECT sum(pg_table_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
          "WHERE n.nspname = 'public' AND c.relkind = 'r'",
        { db },
      )).trim(),
    );
    const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: Deno.env.get("HOME") ?? "/tmp", LANG: "C.UTF-8" };
    const url = c.url({ db });
    const root = join(work, "backups");
    const tool = [
      "run",
      "--allow-all",
      "--v8-flags=--max-semi-space-size=1",
      join(REPO, "backup.ts"),
    ];
    const dumpArgs = (file: string) => ["--data-only", "--no-owner", "-f", file, "-d", url];
    const backup = async (n: number) => {
      log(`backup ${n}`);
      await run(Deno.execPath(), [...tool, "backup", "--db-url", url, "--out", root, "--yes"], env, work);
      log(`pg_dump --data-only ${n}`);
      const started = performance.now();
      await run(join(bin, "pg_dump"), dumpArgs(join(work, `dump${n}.sql`)), env);
      return performance.now() - started;
    };
    const dump1Ms = await backup(1);
    log("changing 1% of the rows");
    const before = Number(
      (await c.sql(tables.map((t) => `SELECT count(*) FROM public.${t.name};`).join("\n"), { db }))
        .split("\n").filter(Boolean).reduce((n, x) => n + Number(x), 0),
    );
    const expected = { changed: 0, removed: 0, added: 0 };
    for (const t of tables) {
      const n = (of: number, b: number) => `(SELECT count(*) FROM public.${t.name} WHERE ${hit(of, b)})`;
      const [u, d, i] = (await c.sql(`SELECT ${n(200, 0)}, ${n(400, 1)}, ${n(400, 2)}`, { db })).trim()
        .split("|").map(Number);
      expected.changed += u;
      expected.removed += parents.has(t.name) ? 0 : d;
      expected.added += i;
    }
    await c.sql("BEGIN;\n" + tables.map((t) => changeSql(t, parents)).join("\n") + "\nCOMMIT;", { db });
    const dump2Ms = await backup(2);
    const dumpBytes = (await Deno.stat(join(work, "dump2.sql"))).size;

    log("our diff");
    const ours: Measurement = await measure(
      Deno.execPath(),
      [...tool, "diff", "--out", root, "--json"],
      { env, cwd: work, ignoreChildName: "deno" },
    );
    if (ours.code !== 1) throw new Error(`diff exited ${ours.code}: ${ours.stderr}`);
    const doc = JSON.parse(ours.stdout) as {
      tables: { table: string; rows?: { added: number; removed: number; changed: number } }[];
    };
    const found = doc.tables.reduce(
      (s, t) => ({
        added: s.added + (t.rows?.added ?? 0),
        removed: s.removed + (t.rows?.removed ?? 0),
        changed: s.changed + (t.rows?.changed ?? 0),
      }),
      { added: 0, removed: 0, changed: 0 },
    );
    if (
      JSON.stringify(found) !==
        JSON.stringify({ added: expected.added, removed: expected.removed, changed: expected.changed })
    ) {
      throw new Error(
        `diff found ${JSON.stringify(found)}, the changes made were ${JSON.stringify(expected)}`,
      );
    }
    log("diff(1) of the two dumps");
    const theirs = await measure("diff", [join(work, "dump1.sql"), join(work, "dump2.sql")], { env });
    if (theirs.code !== 1) throw new Error(`diff(1) exited ${theirs.code}: ${theirs.stderr}`);
    const diffLines = theirs.stdout.split("\n").filter((l) => /^[<>] /.test(l)).length;

    const report = {
      tables: spec.tables,
      rows: before,
      tableMB: +(tableBytes / 1e6).toFixed(1),
      dumpMB: +(dumpBytes / 1e6).toFixed(1),
      changes: found,
      ours: { wallS: +(ours.wallMs / 1000).toFixed(1), peakRssMiB: +mib(ours.peakRssKiB) },
      diff1: {
        wallS: +(theirs.wallMs / 1000).toFixed(1),
        peakRssMiB: +mib(theirs.peakRssKiB),
        lines: diffLines,
      },
      pgDumpDataOnlyS: [+(dump1Ms / 1000).toFixed(1), +(dump2Ms / 1000).toFixed(1)],
    };
    console.log(
      [
        `${spec.tables} tables, ${before} rows, ${report.tableMB} MB of table data (data-only dump ${report.dumpMB} MB)`,
        `changes found by diff: ${found.changed} changed, ${found.removed} removed, ${found.added} added (exactly those made)`,
        `APPROACH                           WALL      PEAK RSS`,
        `supabase-backup diff (2 backups)   ${secs(ours.wallMs).padStart(6)} s  ${
          mib(ours.peakRssKiB).padStart(7)
        } MiB`,
        `diff(1) of 2 data-only dumps       ${secs(theirs.wallMs).padStart(6)} s  ${
          mib(theirs.peakRssKiB).padStart(7)
        } MiB  (${diffLines} lines)`,
        `(each pg_dump --data-only took ${report.pgDumpDataOnlyS.join(" s and ")} s)`,
      ].join("\n"),
    );
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await c.stop().catch(() => {});
    if (!args.keep) await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await runBench(main);
