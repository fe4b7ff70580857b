/**
 * `deno task bench`: times a full backup by this tool against plain pg_dump and against the
 * per-table pg_dump approach of the original bash design, on an ephemeral PostgreSQL 17 with a
 * generated database, directly and through a proxy that adds round-trip time; and a restore by this
 * tool against `pg_restore -j` of a `pg_dump -Fd` of the same database, each into an empty database.
 * Each approach runs as a child process so its wall time and peak RSS can be measured.
 *
 *   deno task bench [--tables 200] [--mb 50] [--schemas 1] [--big-value MB] [--rtt-ms 20] [--large]
 *                   [--skip-per-table] [--skip-restore] [--repeat 1] [--subset 20] [--jobs 4] [--json FILE]
 *
 * `--help` lists every flag; a bad flag or value stops it with one `error:` and one `hint:` line, exit 2.
 *
 * Progress goes to stderr; the report (a table, then JSON) to stdout. Not a test.
 * @module
 */
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { clientBinDir } from "../dev/pgenv.ts";
import { type Cluster, startCluster } from "../tests/support/cluster.ts";
import { REPO } from "../tests/support/paths.ts";
import { redact, registerSecret } from "../lib/base/redact.ts";
import { usageError } from "../lib/base/errors.ts";
import { runPool } from "../lib/base/pool.ts";
import {
  bigValueSql,
  datasetSchemas,
  type DatasetTable,
  MAX_BIG_VALUE_MB,
  perTableSubset,
  planDataset,
  subsetShare,
  tableSql,
} from "./dataset.ts";
import { backupFileArg, benchUsageError, intArg, parseBenchArgs, runBench } from "./args.ts";
import { measure, type Measurement, type MeasureOptions, taskV8Flags } from "./measure.ts";
import {
  type ApproachResult,
  type BenchReport,
  describeSlicing,
  evaluate,
  formatReport,
  median,
  secs,
  type Slicing,
  slicingOf,
} from "./report.ts";

/** What `--help` prints. */
export const USAGE = `usage: deno task bench [options]
  --tables N        tables to create (default 200)
  --mb N            table data to generate, in MB (default 50)
  --large           1 GB of data (same as --mb 1024)
  --schemas N       spread the tables over N schemas s001… (default 1: all in public)
  --big-value MB    also one table with one bytea value of MB MiB, at most ${MAX_BIG_VALUE_MB} (default: none)
  --rtt-ms N        round-trip time the proxy adds (default 20)
  --jobs N          --jobs for our tool and -j for pg_dump -Fd (default 4)
  --repeat N        runs of each approach; the median wall time is reported (default 1)
  --subset N        tables the per-table approach is timed on, then extrapolated (default 20)
  --skip-per-table  leave out the per-table approach
  --skip-restore    leave out the two restores (ours, pg_restore -j of pg_dump -Fd)
  --no-settle       do not write out the server's buffers and the page cache before each run
  --tool FILE       the backup.ts to run as "ours", backup and restore (default: this checkout's)
  --compare FILE    also back up and restore with another checkout's backup.ts in the same run
                    ("compare-proxy", "compare-direct", "compare-restore-direct", each right after
                    ours), to measure a change against a baseline
  --v8-flags FLAGS  pass --v8-flags=FLAGS to our tool (default: those of \`deno task backup\` in
                    deno.json; --v8-flags= for none)
  --setting K=V     a server setting for the benchmark's PostgreSQL (repeatable), e.g.
                    max_locks_per_transaction=256
  --only LIST       run only these approaches (comma-separated ids, e.g. ours-proxy,pg_dump-Fd-j4-proxy)
  --json FILE       also write the JSON report to FILE
  --help            this text`;

interface BenchArgs {
  tables: number;
  mb: number;
  schemas: number;
  bigValueMb: number;
  rttMs: number;
  jobs: number;
  repeat: number;
  subset: number;
  skipPerTable: boolean;
  skipRestore: boolean;
  /** Before each timed run, CHECKPOINT and sync (default; --no-settle turns it off). */
  settle: boolean;
  only?: string[];
  settings: string[];
  v8Flags?: string;
  tool: string;
  compare?: string;
  json?: string;
}

const TASK = "bench";

/**
 * The ids of the approaches a run times, in their order (pure): what `--only` chooses from. main
 * checks that the approaches it builds have exactly these ids.
 */
export function approachIds(a: Pick<BenchArgs, "compare" | "skipPerTable" | "skipRestore">): string[] {
  const compare = (id: string) => (a.compare ? [id] : []);
  return [
    "ours-proxy",
    ...compare("compare-proxy"),
    "pg_dump-Fd-j4-proxy",
    "pg_dump-Fp-proxy",
    "ours-direct",
    ...compare("compare-direct"),
    "pg_dump-Fd-j4-direct",
    ...(a.skipPerTable ? [] : ["per-table-proxy"]),
    ...(a.skipRestore ? [] : [
      "ours-restore-direct",
      ...compare("compare-restore-direct"),
      "pg_restore-j4-direct",
      "pg_restore-1-direct",
    ]),
  ];
}

/** `--only LIST` as ids, each one of {@link approachIds} of the run (pure); else a usage error. */
function onlyArg(
  raw: string | undefined,
  run: Pick<BenchArgs, "compare" | "skipPerTable" | "skipRestore">,
): string[] | undefined {
  if (raw === undefined) return undefined;
  const ids = raw.split(",").map((s) => s.trim()).filter(Boolean);
  const known = approachIds(run);
  const unknown = ids.filter((id) => !known.includes(id));
  if (ids.length === 0 || unknown.length > 0) {
    throw usageError(
      ids.length === 0
        ? "--only needs at least one approach"
        : `--only: no approach ${unknown.map((id) => `'${id}'`).join(", ")} in this run`,
      `choose from ${known.join(", ")}`,
    );
  }
  return ids;
}

/** The flags of `bench`, as parseArgs takes them. */
export const FLAGS = {
  tables: { type: "string" },
  mb: { type: "string" },
  large: { type: "boolean" },
  schemas: { type: "string" },
  "big-value": { type: "string" },
  "rtt-ms": { type: "string" },
  jobs: { type: "string" },
  repeat: { type: "string" },
  subset: { type: "string" },
  "skip-per-table": { type: "boolean" },
  "skip-restore": { type: "boolean" },
  "no-settle": { type: "boolean" },
  only: { type: "string" },
  setting: { type: "string", multiple: true },
  "v8-flags": { type: "string" },
  tool: { type: "string" },
  compare: { type: "string" },
  json: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * The bench's flags (pure): undefined for `--help`. `v8Flags` is left undefined when not given (the
 * caller takes those of `deno task backup`). Throws a usage {@link BackupError} for a bad flag or value.
 */
export function parseMainArgs(argv: string[]): BenchArgs | undefined {
  const values = parseBenchArgs(TASK, argv, FLAGS);
  if (values.help) return undefined;
  const int = (name: string, v: string | undefined, dflt: number, min: number, max?: number) =>
    intArg(TASK, name, v, dflt, min, max);
  const tables = int("tables", values.tables, 200, 1);
  const schemas = int("schemas", values.schemas, 1, 1);
  if (schemas > tables) {
    throw benchUsageError(TASK, `--schemas ${schemas} needs at least as many --tables, got ${tables}`);
  }
  return {
    tables,
    mb: values.large ? 1024 : int("mb", values.mb, 50, 1),
    schemas,
    bigValueMb: int("big-value", values["big-value"], 0, 1, MAX_BIG_VALUE_MB),
    rttMs: int("rtt-ms", values["rtt-ms"], 20, 0),
    jobs: int("jobs", values.jobs, 4, 1),
    repeat: int("repeat", values.repeat, 1, 1),
    subset: int("subset", values.subset, 20, 1),
    skipPerTable: !!values["skip-per-table"],
    skipRestore: !!values["skip-restore"],
    settle: !values["no-settle"],
    only: onlyArg(values.only, {
      compare: values.compare,
      skipPerTable: !!values["skip-per-table"],
      skipRestore: !!values["skip-restore"],
    }),
    settings: (values.setting ?? []).map((kv) => {
      if (!/^[a-z_][a-z0-9_.]*=\S+$/.test(kv)) {
        throw benchUsageError(TASK, `--setting must be NAME=VALUE, got '${kv}'`);
      }
      return kv;
    }),
    v8Flags: values["v8-flags"],
    tool: values.tool ?? join(REPO, "backup.ts"),
    compare: values.compare,
    json: values.json,
  };
}

const log = (line: string) => console.error(redact(`bench: ${line}`));

/** Runs a backup approach once, untimed, into `out` (kept); throws when it fails. */
async function prepare(a: Approach, out: string): Promise<void> {
  const m = await a.run(out);
  if (m.code !== 0) {
    throw new Error(
      `${a.label} (${a.via}) failed (exit ${m.code}): ${m.stderr.split("\n").slice(-4).join(" ")}`,
    );
  }
}

/** `a`, but the output of its first successful run is kept at `path` (for a restore to read). */
function keeping(a: Approach, path: string): Approach {
  return {
    ...a,
    collect: async (out) => {
      const bytes = await sizeOf(out);
      if (await exists(path)) await removeOut(out);
      else await Deno.rename(out, path);
      return bytes;
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** The default {@link Approach.collect}: the size of `out`, then `out` set aside for removal. */
async function collectOut(out: string): Promise<number> {
  const bytes = await sizeOf(out);
  await removeOut(out);
  return bytes;
}

/**
 * Outputs of finished runs, removed only after the last run ({@link removeSpent}): ext4 skips inodes
 * freed in the last minute (five when their table block is still dirty) when it allocates new
 * ones, looking at each of them, so a run that starts seconds after 15,000 files were removed pays
 * for it (measured: 15,000 inodes in 27 s right after such a removal, 15.6 s a minute after it,
 * same load). No real backup starts seconds after one was deleted.
 */
const spent: string[] = [];

/** The default {@link Approach.discard}: `out` set aside for {@link removeSpent}. */
function removeOut(out: string): Promise<void> {
  spent.push(out);
  return Promise.resolve();
}

/** Removes the outputs set aside by {@link removeOut}. */
async function removeSpent(): Promise<void> {
  for (const out of spent.splice(0)) await Deno.remove(out, { recursive: true }).catch(() => {});
}

/** Writes out the server's dirty buffers and then the page cache (see where it is called). */
async function settle(c: Cluster): Promise<void> {
  await c.sql("CHECKPOINT");
  await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output();
}

/** Drops a database the benchmark created (its connections ended). */
async function dropDatabase(c: Cluster, db: string): Promise<void> {
  await c.sql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
}

/** The 1, 5 and 15 minute load averages (/proc/loadavg), as `uptime` shows them. */
async function loadAverage(): Promise<number[]> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).map(Number);
}

/** When the first and the last stderr line matching a pattern arrived (ms from the start). */
function lineTimes(m: Measurement) {
  return {
    at: (re: RegExp) => m.stderrLines.find((l) => re.test(l.text))?.ms,
    lastAt: (re: RegExp) => m.stderrLines.findLast((l) => re.test(l.text))?.ms,
  };
}

/** Total size of the files under `path` (a file or a directory). */
async function sizeOf(path: string): Promise<number> {
  const st = await Deno.stat(path);
  if (!st.isDirectory) return st.size;
  let n = 0;
  for await (const e of Deno.readDir(path)) n += await sizeOf(join(path, e.name));
  return n;
}

/** Scalar output of a query run as superuser (psql output trimmed). */
async function scalar(c: Cluster, q: string, db: string): Promise<string> {
  return (await c.sql(q, { db })).trim().split("\n").filter(Boolean).pop()!.trim();
}

/**
 * The number of user tables and their rows in `db`, counted (not estimated), as the superuser: how a
 * restore is checked against the dataset. One statement per table, each its own transaction (one
 * query over thousands of tables would need a lock on each at once).
 */
async function countRows(c: Cluster, db: string): Promise<{ tables: number; rows: number }> {
  const names = (await c.sql(
    "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables " +
      "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    { db },
  )).split("\n").filter(Boolean);
  if (names.length === 0) return { tables: 0, rows: 0 };
  const counts = await c.sql(names.map((t) => `SELECT count(*) FROM ${t};`).join("\n"), { db });
  const rows = counts.split("\n").filter(Boolean).reduce((n, x) => n + Number(x), 0);
  return { tables: names.length, rows };
}

/** Creates the role, the database, the schemas and the tables; returns sizes and the time it took. */
async function buildDatabase(
  c: Cluster,
  tables: DatasetTable[],
  password: string,
  opts: { schemas: string[]; bigValueMb: number },
) {
  const started = performance.now();
  // The cluster may already have a bare `postgres` role; make it Supabase's (not a superuser).
  await c.sql(
    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgres') THEN CREATE ROLE postgres; END IF; END $$;\n" +
      `ALTER ROLE postgres NOSUPERUSER LOGIN CREATEDB CREATEROLE REPLICATION BYPASSRLS PASSWORD '${password}';\n` +
      // As on the platform (supautils), so that a restore may load with triggers off.
      "GRANT SET ON PARAMETER session_replication_role TO postgres",
  );
  const db = await c.createDatabase("bench");
  await c.sql(`ALTER DATABASE ${db} OWNER TO postgres; ALTER SCHEMA public OWNER TO postgres`, { db });
  const extra = opts.schemas.filter((s) => s !== "public");
  if (extra.length > 0) {
    await c.sql(extra.map((s) => `CREATE SCHEMA ${s} AUTHORIZATION postgres;`).join("\n"), { db });
  }
  if (opts.bigValueMb > 0) {
    log(`building a ${opts.bigValueMb} MB value`);
    await c.sql(`SET ROLE postgres;\n${bigValueSql(opts.bigValueMb)}`, { db });
  }
  // Ten tables per psql run, more when there are thousands (each run costs a connection).
  const size = Math.max(10, Math.ceil(tables.length / 100));
  const groups: DatasetTable[][] = [];
  for (let i = 0; i < tables.length; i += size) groups.push(tables.slice(i, i + size));
  let done = 0;
  await runPool(
    groups.map((g) => async () => {
      const script = ["SET ROLE postgres;", ...g.map((t) => tableSql(t, tables))].join("\n");
      await c.sql(script, { db });
      done += g.length;
      log(`loaded ${done}/${tables.length} tables`);
    }),
    Math.max(1, navigator.hardwareConcurrency),
  );
  log("vacuum (freeze, analyze) and checkpoint");
  await c.sql("VACUUM (FREEZE, ANALYZE)", { db });
  await c.sql("CHECKPOINT", { db });
  const databaseBytes = Number(await scalar(c, `SELECT pg_database_size('${db}')`, db));
  const tableBytes = Number(
    await scalar(
      c,
      `SELECT sum(pg_table_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ` +
        `WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind = 'r'`,
      db,
    ),
  );
  const rows = tables.reduce((n, t) => n + t.rows, 0) + (opts.bigValueMb > 0 ? 1 : 0);
  return { db, databaseBytes, tableBytes, rows, loadMs: performance.now() - started };
}

/** Starts the latency proxy in a worker; returns its port and a close function. */
async function startProxyWorker(targetPort: number, delayMs: number) {
  const worker = new Worker(new URL("./proxy_worker.ts", import.meta.url).href, { type: "module" });
  const port = await new Promise<number>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data.port);
    worker.onerror = (e) => reject(new Error(`proxy worker: ${e.message}`));
    worker.postMessage({ targetPort, delayMs });
  });
  return {
    port,
    async close() {
      await new Promise<void>((resolve) => {
        worker.onmessage = () => resolve();
        worker.postMessage("close");
        setTimeout(resolve, 2000);
      });
      worker.terminate();
    },
  };
}

/** One approach: how to run it once into a fresh output path. */
interface Approach {
  id: string;
  label: string;
  via: "proxy" | "direct";
  run(out: string): Promise<Measurement>;
  /**
   * After a successful run: checks what it wrote and returns its size in bytes, cleaning up (default:
   * the size of `out`, then `out` removed). Throws when the output is wrong.
   */
  collect?(out: string): Promise<number>;
  /** After a failed run: cleans up (default: `out` removed). */
  discard?(out: string): Promise<void>;
  /** Where its output is, given the path passed to run. */
  extrapolate?: { tablesTimed: number; factor: number; dataShare: number };
  marks?(m: Measurement): Record<string, number>;
  /** For our backups: the schemas the run read over several connections (from its stderr). */
  slicing?(m: Measurement): Slicing[];
}

/** The client tools, provisioned by `deno task setup` (which `deno task bench` runs first). */
async function clientTools(): Promise<string> {
  const bin = clientBinDir();
  const ok = await new Deno.Command(join(bin, "pg_dump"), {
    args: ["--version"],
    stdout: "null",
    stderr: "null",
  })
    .output().then((o) => o.success, () => false);
  // Provisioning from here would re-point a cache shared by several checkouts: setup does it.
  if (!ok) throw new Error(`no pg_dump 17 in ${bin}: run \`deno task setup\` first`);
  return bin;
}

async function main() {
  const parsed = parseMainArgs(Deno.args);
  if (!parsed) return console.log(USAGE);
  const args = { ...parsed, v8Flags: parsed.v8Flags ?? taskV8Flags(REPO) };
  await backupFileArg(args.tool, "tool");
  if (args.compare !== undefined) await backupFileArg(args.compare, "compare");
  if (Deno.build.os !== "linux") throw new Error("the benchmark reads /proc: it runs on Linux only");
  const loadAtStart = await loadAverage();
  const bin = await clientTools();
  const pgDump = join(bin, "pg_dump");
  const spec = { tables: args.tables, mb: args.mb, schemas: args.schemas };
  const tables = planDataset(spec);
  const work = await Deno.makeTempDir({ prefix: "supabase-backup-bench-" });
  log(`starting PostgreSQL 17 (work dir ${work})`);
  const cluster = await startCluster(17, { settings: args.settings });
  let proxy: Awaited<ReturnType<typeof startProxyWorker>> | undefined;
  const stop = async () => {
    await proxy?.close().catch(() => {});
    await cluster.stop().catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
  };
  const onSignal = () => {
    log("interrupted; stopping the cluster");
    stop().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const password = randomBytes(18).toString("base64url");
    registerSecret(password);
    registerSecret(cluster.superPassword);
    log(
      `building ${args.tables} tables in ${args.schemas} schema(s), ~${args.mb} MB` +
        (args.bigValueMb ? `, and one ${args.bigValueMb} MB value` : ""),
    );
    const ds = await buildDatabase(cluster, tables, password, {
      schemas: datasetSchemas(spec),
      bigValueMb: args.bigValueMb,
    });
    log(`database ready: ${(ds.databaseBytes / 1e6).toFixed(1)} MB in ${secs(ds.loadMs)} s`);
    proxy = await startProxyWorker(cluster.port, args.rttMs / 2);
    // Every run also reports the server's CPU time (the postmaster and its children).
    const serverPid = Number(
      (await Deno.readTextFile(join(cluster.dataDir, "postmaster.pid"))).split("\n")[0],
    );
    // Each run starts from a settled machine: the server's dirty buffers and the page cache's are
    // written out first (CHECKPOINT, sync), so that no run pays for the writeback of the one before.
    const timed = async (cmd: string, argv: string[], opts: MeasureOptions) => {
      if (args.settle) await settle(cluster);
      return await measure(cmd, argv, { ...opts, serverPid });
    };
    const serverVersion = await scalar(cluster, "SHOW server_version", ds.db);
    const pgDumpVersion = (await new Deno.Command(pgDump, { args: ["--version"] }).output()).stdout;

    const baseEnv: Record<string, string> = {
      PATH: `${bin}:/usr/bin:/bin`,
      HOME: Deno.env.get("HOME") ?? "/tmp",
      LANG: "C.UTF-8",
    };
    if (Deno.env.get("DENO_DIR")) baseEnv.DENO_DIR = Deno.env.get("DENO_DIR")!;
    const pgEnv = (port: number, db = ds.db) => ({
      ...baseEnv,
      PGHOST: "127.0.0.1",
      PGPORT: String(port),
      PGUSER: "postgres",
      PGPASSWORD: password,
      PGDATABASE: db,
    });
    const url = (port: number, db = ds.db) =>
      `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}?sslmode=disable`;
    const ports = { proxy: proxy.port, direct: cluster.port };

    /** Our tool's command line for `command` (backup or restore) with `--out root`. */
    const toolOf = (file: string) => (command: string, root: string, ...rest: string[]) => [
      "run",
      "--allow-all",
      ...(args.v8Flags ? [`--v8-flags=${args.v8Flags}`] : []),
      file,
      command,
      "--out",
      root,
      "--yes",
      "--jobs",
      String(args.jobs),
      "--pg-bin",
      bin,
      ...rest,
    ];
    const tool = toolOf(args.tool);
    const flagged = args.v8Flags ? " (v8 flags)" : "";
    /** Our backup, or (with `compare`) the same command of the --compare checkout. */
    const ours = (via: "proxy" | "direct", compare?: string): Approach => ({
      id: `${compare ? "compare" : "ours"}-${via}`,
      label: compare ? `supabase-backup backup (compare)${flagged}` : `supabase-backup backup${flagged}`,
      via,
      run: (out) =>
        timed(Deno.execPath(), (compare ? toolOf(compare) : tool)("backup", out, "--no-archive"), {
          env: { ...baseEnv, SUPABASE_DB_URL: url(ports[via]) },
          cwd: work,
          ignoreChildName: "deno",
        }),
      marks: (m) => {
        const { at, lastAt } = lineTimes(m);
        const r: Record<string, number> = {};
        const server = at(/^(\[\w+\] )?server /);
        const dumped = lastAt(/dumped schema /);
        const firstTable = at(/tables \d+\/\d+/);
        const lastTable = lastAt(/tables \d+\/\d+/);
        if (server !== undefined) r.connectedAndDetected = server;
        if (dumped !== undefined) r.lastSchemaDumped = dumped;
        if (firstTable !== undefined) r.firstTableWritten = firstTable;
        if (lastTable !== undefined) r.lastTableWritten = lastTable;
        return r;
      },
      slicing: (m) => slicingOf(m.stderrLines.map((l) => l.text)),
    });
    const dirJ4 = (via: "proxy" | "direct"): Approach => ({
      id: `pg_dump-Fd-j4-${via}`,
      label: `pg_dump -Fd -j${args.jobs}`,
      via,
      run: (out) =>
        timed(pgDump, ["-Fd", `-j${args.jobs}`, "--no-password", "-f", out], { env: pgEnv(ports[via]) }),
    });
    const plain = (via: "proxy" | "direct"): Approach => ({
      id: `pg_dump-Fp-${via}`,
      label: "pg_dump -Fp (one file)",
      via,
      run: (out) => timed(pgDump, ["-Fp", "--no-password", "-f", out], { env: pgEnv(ports[via]) }),
    });
    const subset = perTableSubset(tables, args.subset);
    const perTable: Approach = {
      id: "per-table-proxy",
      label: "per-table pg_dump ×2",
      via: "proxy",
      extrapolate: {
        tablesTimed: subset.length,
        factor: tables.length / subset.length,
        dataShare: subsetShare(tables, subset),
      },
      run: async (out) => {
        // The original bash design: for each table, one schema-only and one data-only pg_dump.
        await Deno.mkdir(out, { recursive: true });
        const list = join(work, "per-table.list");
        await Deno.writeTextFile(list, subset.map((t) => `public.${t.name}`).join("\n") + "\n");
        const script = [
          "set -euo pipefail",
          "while read -r t; do",
          '  pg_dump --no-password --schema-only -t "$t" -f "$OUT/$t.schema.sql"',
          '  pg_dump --no-password --data-only -t "$t" -f "$OUT/$t.data.sql"',
          `done < "$LIST"`,
        ].join("\n");
        return await timed("/bin/bash", ["-c", script], {
          env: { ...pgEnv(ports.proxy), OUT: out, LIST: list },
        });
      },
    };
    // Each restore reads one backup taken directly: the first timed run's output of that approach,
    // kept, or (when that approach is not run) one taken untimed before the restore's first run.
    const sources = {
      ours: { path: join(work, "restore-from-ours"), from: ours("direct") },
      dir: { path: join(work, "restore-from-pg_dump-Fd"), from: dirJ4("direct") },
    };
    const restoreDbs = new Map<string, string>();
    let targetCount = 0;
    /** A restore of `source` into a new empty database (owned by postgres), checked by counting rows after. */
    const restore = (
      id: string,
      label: string,
      source: { path: string; from: Approach },
      command: (db: string) => [string, string[], MeasureOptions],
    ) => ({
      id,
      label,
      via: "direct" as const,
      run: async (out: string) => {
        if (!(await exists(source.path))) {
          log(`  taking the ${source.from.label} it reads (${source.from.via}; not timed)`);
          await prepare(source.from, source.path);
        }
        const db = await cluster.createDatabase(`restore_${++targetCount}`);
        await cluster.sql(`ALTER DATABASE ${db} OWNER TO postgres; ALTER SCHEMA public OWNER TO postgres`, {
          db,
        });
        restoreDbs.set(out, db);
        const [cmd, argv, opts] = command(db);
        return await timed(cmd, argv, opts);
      },
      collect: async (out: string) => {
        const db = restoreDbs.get(out)!;
        const got = await countRows(cluster, db);
        const want = { tables: tables.length + (args.bigValueMb ? 1 : 0), rows: ds.rows };
        if (got.tables !== want.tables || got.rows !== want.rows) {
          throw new Error(
            `${label}: restored ${got.tables} tables with ${got.rows} rows, the dataset has ` +
              `${want.tables} with ${want.rows}`,
          );
        }
        const bytes = Number(await scalar(cluster, `SELECT pg_database_size('${db}')`, db));
        await dropDatabase(cluster, db);
        return bytes;
      },
      discard: (out: string) => dropDatabase(cluster, restoreDbs.get(out)!),
    });
    /** Our restore, or (with `compare`) the same command of the --compare checkout. */
    const oursRestoreOf = (compare?: string): Approach => ({
      ...restore(
        compare ? "compare-restore-direct" : "ours-restore-direct",
        `supabase-backup restore${compare ? " (compare)" : ""}${flagged}`,
        sources.ours,
        (db) => [
          Deno.execPath(),
          (compare ? toolOf(compare) : tool)(
            "restore",
            sources.ours.path,
            "--target-url",
            url(ports.direct, db),
          ),
          { env: baseEnv, cwd: work, ignoreChildName: "deno" },
        ],
      ),
      // When each step's input was handed to psql (it runs behind by at most a pipe buffer).
      marks: (m) => {
        const { at, lastAt } = lineTimes(m);
        const r: Record<string, number> = {};
        const marks: [string, number | undefined][] = [
          ["filesChecked", at(/^checking \d+ backup file/)],
          ["definitionsSent", lastAt(/: definitions restored$/)],
          ["dataSent", lastAt(/: data restored$/)],
          ["postDataSent", lastAt(/: indexes, constraints, triggers and policies restored$/)],
        ];
        for (const [k, v] of marks) if (v !== undefined) r[k] = v;
        return r;
      },
    });
    const oursRestore = oursRestoreOf();
    const pgRestore: Approach = restore(
      "pg_restore-j4-direct",
      `pg_restore -j${args.jobs} (of pg_dump -Fd)`,
      sources.dir,
      (db) => [join(bin, "pg_restore"), [`-j${args.jobs}`, "--no-password", "-d", db, sources.dir.path], {
        env: pgEnv(ports.direct, db),
      }],
    );
    // The same archive in one session and one transaction, as ours restores: what atomicity costs.
    const pgRestoreAtomic: Approach = restore(
      "pg_restore-1-direct",
      "pg_restore --single-transaction",
      sources.dir,
      (
        db,
      ) => [join(bin, "pg_restore"), ["--single-transaction", "--no-password", "-d", db, sources.dir.path], {
        env: pgEnv(ports.direct, db),
      }],
    );
    // With --compare, the other checkout's restore runs right after ours, into the same kind of target.
    const restores = args.skipRestore
      ? []
      : [oursRestore, ...(args.compare ? [oursRestoreOf(args.compare)] : []), pgRestore, pgRestoreAtomic];
    const compared = (via: "proxy" | "direct") => (args.compare ? [ours(via, args.compare)] : []);
    let approaches: Approach[] = [
      ours("proxy"),
      ...compared("proxy"),
      dirJ4("proxy"),
      plain("proxy"),
      restores.length ? keeping(sources.ours.from, sources.ours.path) : ours("direct"),
      ...compared("direct"),
      restores.length ? keeping(sources.dir.from, sources.dir.path) : dirJ4("direct"),
      ...(args.skipPerTable ? [] : [perTable]),
      ...restores,
    ];
    const built = approaches.map((a) => a.id).join(",");
    if (built !== approachIds(args).join(",")) {
      throw new Error(`approachIds is out of date: main built ${built}`);
    }
    if (args.only) approaches = approaches.filter((a) => args.only!.includes(a.id));

    const runs = new Map<string, { m: Measurement; bytes: number; slicing?: Slicing[] }[]>();
    const failures: { id: string; error: string }[] = [];
    for (let r = 1; r <= args.repeat; r++) {
      for (const a of approaches) {
        if (failures.some((f) => f.id === a.id)) continue;
        const out = join(work, `${a.id}-${r}`);
        log(`run ${r}/${args.repeat}: ${a.label} (${a.via})`);
        const m = await a.run(out);
        const discard = () => (a.discard ?? removeOut)(out).catch(() => {});
        if (m.code !== 0) {
          const tail = redact(m.stderr.split("\n").filter(Boolean).slice(-8).join("\n"));
          log(`  FAILED (exit ${m.code}):\n${tail}`);
          failures.push({ id: a.id, error: `exit ${m.code}: ${tail}` });
          await discard();
          continue;
        }
        let bytes: number;
        try {
          bytes = await (a.collect ?? collectOut)(out);
        } catch (e) {
          const error = redact((e as Error).message);
          log(`  FAILED: ${error}`);
          failures.push({ id: a.id, error });
          await discard();
          continue;
        }
        const slicing = a.slicing?.(m);
        log(
          `  ${secs(m.wallMs)} s, peak RSS ${(m.peakRssKiB / 1024).toFixed(1)} MiB` +
            (slicing ? `, ${describeSlicing(slicing)}` : ""),
        );
        runs.set(a.id, [...(runs.get(a.id) ?? []), { m, bytes, slicing }]);
      }
    }
    await removeSpent();

    const results: ApproachResult[] = approaches.filter((a) => runs.has(a.id)).map((a) => {
      const rs = runs.get(a.id)!;
      const measured = median(rs.map((x) => x.m.wallMs));
      const mid = rs.reduce((best, x) =>
        Math.abs(x.m.wallMs - measured) < Math.abs(best.m.wallMs - measured) ? x : best
      );
      const factor = a.extrapolate?.factor ?? 1;
      return {
        id: a.id,
        label: a.label,
        via: a.via,
        wallMs: measured * factor,
        runsMs: rs.map((x) => Math.round(x.m.wallMs)),
        peakRssKiB: Math.max(...rs.map((x) => x.m.peakRssKiB)),
        childPeakKiB: Math.max(...rs.map((x) => x.m.childPeakKiB)),
        childrenSumPeakKiB: Math.max(...rs.map((x) => x.m.childrenSumPeakKiB)),
        childPeakByName: maxByName(rs.map((x) => x.m.childPeakByName)),
        cpuMs: Math.round(mid.m.cpuMs),
        childCpuMsByName: roundAll(mid.m.childCpuMsByName),
        ...(mid.m.serverCpuMs !== undefined ? { serverCpuMs: Math.round(mid.m.serverCpuMs) } : {}),
        outputBytes: Math.round(rs[0].bytes * factor),
        ...(a.extrapolate ? { extrapolated: { ...a.extrapolate, measuredMs: Math.round(measured) } } : {}),
        ...(a.marks ? { marks: roundAll(a.marks(mid.m)) } : {}),
        ...(a.slicing ? { slicing: rs.map((x) => x.slicing!) } : {}),
      };
    });
    const params = { tables: args.tables, mb: args.mb, schemas: args.schemas, bigValueMb: args.bigValueMb };
    const { ratios, targets } = evaluate(results, { ...params, rttMs: args.rttMs });
    const toolVersion = await gitDescribe(args.tool);
    const cpuModel = (await Deno.readTextFile("/proc/cpuinfo")).match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "?";
    const report: BenchReport = {
      date: new Date().toISOString(),
      machine: {
        cpus: navigator.hardwareConcurrency,
        cpuModel,
        memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
        kernel: Deno.osRelease(),
        loadAvg: { start: loadAtStart, end: await loadAverage() },
      },
      versions: {
        deno: Deno.version.deno,
        pgDump: new TextDecoder().decode(pgDumpVersion).trim(),
        server: serverVersion,
        tool: toolVersion,
      },
      params: {
        ...params,
        rttMs: args.rttMs,
        jobs: args.jobs,
        repeat: args.repeat,
        perTableSubset: subset.length,
        ...(args.settings.length ? { settings: args.settings } : {}),
        ...(args.v8Flags ? { v8Flags: args.v8Flags } : {}),
        ...(args.tool !== join(REPO, "backup.ts") ? { tool: args.tool } : {}),
        ...(args.compare ? { compare: args.compare, compareVersion: await gitDescribe(args.compare) } : {}),
      },
      dataset: {
        databaseBytes: ds.databaseBytes,
        tableBytes: ds.tableBytes,
        rows: ds.rows,
        loadMs: Math.round(ds.loadMs),
      },
      results,
      failures,
      ratios,
      targets,
    };
    const json = JSON.stringify(report, null, 2);
    console.log(formatReport(report));
    console.log("");
    console.log(json);
    if (args.json) await Deno.writeTextFile(args.json, json + "\n");
    if (failures.length > 0) {
      throw new Error(`${failures.length} approach(es) failed: ${failures.map((f) => f.id).join(", ")}`);
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    await stop();
  }
}

/** The commit of the checkout holding `tool`, with "+changes" when its lib/ or cmd/ differ from it. */
async function gitDescribe(tool: string): Promise<string> {
  const dir = join(tool, "..");
  const git = async (...a: string[]) => {
    const o = await new Deno.Command("git", { args: ["-C", dir, ...a], stdout: "piped", stderr: "null" })
      .output()
      .catch(() => undefined);
    return o?.success ? new TextDecoder().decode(o.stdout).trim() : undefined;
  };
  const head = await git("rev-parse", "--short", "HEAD");
  if (!head) return "unknown (not a git checkout)";
  const dirty = await git("status", "--porcelain", "--", "lib", "cmd", "backup.ts");
  return dirty ? `${head}+changes` : head;
}

function maxByName(all: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of all) for (const [k, v] of Object.entries(r)) out[k] = Math.max(out[k] ?? 0, v);
  return out;
}

function roundAll(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v)]));
}

if (import.meta.main) await runBench(main);
