/**
 * `deno task demo`: the product end to end, with real parts and nothing mocked.
 *
 * 1. starts a throw-away PostgreSQL 17 cluster (tests/support/cluster.ts);
 * 2. loads the Supabase-shaped fixture (roles, auth/storage/public/custom schemas, rows);
 * 3. runs `backup.ts backup` as the non-superuser `postgres`, with a PATH whose only pg_dump is
 *    Debian's 15, so the tool has to find pg_dump 17 (the server's version) in `.cache/pg` itself;
 * 4. shows the backup's layout and the manifest's highlights;
 * 5. runs `backup.ts verify --drill` into a scratch database on the same cluster: every file is
 *    checked, the whole backup restored, and every table's row count compared with the manifest;
 * 6. stops the cluster and removes the temp dirs (also on ctrl+c).
 *
 * Progress of the tool itself goes to stderr as it happens; the demo's headings go to stdout.
 * @module
 */
import $ from "dax";
import { join } from "node:path";
import { maskUrl } from "../lib/pg/url.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { PLAIN_PATH } from "../tests/support/cli.ts";
import { type Cluster, startCluster } from "../tests/support/cluster.ts";
import { FIXTURE, FIXTURE_PASSWORD, loadFixture } from "../tests/support/fixture.ts";
import { REPO_ROOT } from "./pgenv.ts";

const started = Date.now();
const abort = new AbortController();
let cluster: Cluster | undefined;
let outDir: string | undefined;
let cleaning: Promise<void> | undefined;

/** Stops the cluster and removes the temp dirs; safe to call twice (finally and ctrl+c). */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await cluster?.stop().catch(() => {});
    if (outDir) await Deno.remove(outDir, { recursive: true }).catch(() => {});
  })();
  return cleaning;
}

/** Ctrl+c: the running step stops (a CLI run gets SIGTERM too), then `finally` cleans up. */
Deno.addSignalListener("SIGINT", () => {
  const force = () => cleanup().finally(() => Deno.exit(130));
  if (abort.signal.aborted) return void force();
  console.error("\ndemo: interrupted; stopping the cluster and removing temp dirs (ctrl+c again: now)");
  abort.abort();
  Deno.unrefTimer(setTimeout(force, 20_000));
});

let current = "";
function heading(n: number, title: string): void {
  if (abort.signal.aborted) throw new Error("interrupted");
  current = `${n}. ${title}`;
  console.log(`\n== ${current} …`);
}

/**
 * Runs `backup.ts <args>` from the repository (where `.cache/pg` is) with only `env`, PLAIN_PATH
 * and HOME: stderr streams to the terminal, stdout too and is also returned.
 */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  const shown = Object.entries(env).map(([k, v]) => `${k}=${maskUrl(v)} `).join("");
  console.log(`$ ${shown}deno run -A backup.ts ${args.join(" ")}`);
  const r = await $`${Deno.execPath()} run --allow-all --quiet backup.ts ${args}`
    .cwd(REPO_ROOT)
    .clearEnv()
    .env({
      PATH: PLAIN_PATH,
      HOME: Deno.env.get("HOME") ?? "/tmp",
      DENO_DIR: Deno.env.get("DENO_DIR"),
      TMPDIR: Deno.env.get("TMPDIR"),
      ...env,
    })
    .signal(abort.signal)
    .stdin("null")
    .stdout("inheritPiped")
    .stderr("inherit")
    .noThrow();
  return { code: r.code, stdout: r.stdout };
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) n += e.isDirectory ? await countFiles(join(dir, e.name)) : 1;
  return n;
}

/** `<dir>` as an indented tree, `depth` levels deep; deeper folders show their file count. */
async function tree(dir: string, depth: number, indent = "  "): Promise<string[]> {
  const entries = [];
  for await (const e of Deno.readDir(dir)) entries.push(e);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  const lines: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (!e.isDirectory) {
      lines.push(`${indent}${e.name}  (${(await Deno.stat(path)).size} B)`);
    } else if (depth > 1) {
      lines.push(`${indent}${e.name}/`, ...await tree(path, depth - 1, indent + "  "));
    } else {
      lines.push(`${indent}${e.name}/  (${await countFiles(path)} files)`);
    }
  }
  return lines;
}

async function main(): Promise<void> {
  heading(1, "Starting PostgreSQL 17");
  cluster = await startCluster(17);
  console.log(`cluster on 127.0.0.1:${cluster.port} (superuser ${cluster.superuser}, random password)`);

  heading(2, "Loading the Supabase-shaped fixture");
  const source = await cluster.createDatabase("acme_app");
  await loadFixture(cluster, source);
  const sourceUrl = cluster.url({ db: source, user: "postgres", password: FIXTURE_PASSWORD });
  const count = (await cluster.sql(
    `select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')`,
    { db: source },
  )).trim();
  console.log(`database ${source}: ${count} tables in auth, storage, public, billing, Sales "EU" é, …`);
  console.log("we connect as 'postgres' (not a superuser), as with a Supabase project's session pooler,");
  console.log("with a password full of URL-special characters (@ : / # % ?), percent-encoded in the URL");

  heading(3, "Backing up with the real CLI");
  const onPath = await $`sh -c ${"command -v pg_dump && pg_dump --version"}`.env({ PATH: PLAIN_PATH })
    .noThrow().text();
  console.log(`PATH=${PLAIN_PATH} has: ${onPath.replace("\n", ", ") || "no pg_dump"}`);
  console.log("the server is 17, so the tool must find pg_dump 17 on its own (in .cache/pg)");
  outDir = await Deno.makeTempDir({ prefix: "supabase-backup-demo-" });
  const backup = await cli(["backup", "--out", outDir, "--yes"], { SUPABASE_DB_URL: sourceUrl });
  if (backup.code !== 0 && backup.code !== 3) {
    throw new Error(`backup.ts backup exited ${backup.code} (0, or 3 for partial, expected)`);
  }
  const latest = join(outDir, "latest");
  const m = JSON.parse(await Deno.readTextFile(join(latest, "manifest.json"))) as Manifest;
  const skipped = m.skipped.map((s) => `${s.schema}.${s.table}`);
  if (backup.code === 3 && m.status === "partial" && skipped.includes(FIXTURE.unreadableTable)) {
    console.log(`exit 3 = partial, as expected: 'postgres' may not read ${skipped.join(", ")}`);
    console.log("(owned by supabase_admin with no grant to postgres, as on Supabase). Everything else is");
    console.log("backed up; the summary and the manifest's 'skipped' name what is missing, and a scheduled");
    console.log("run can treat 3 as a warning rather than a failure.");
  } else if (backup.code !== 0) {
    throw new Error(
      `exit 3 but the manifest does not skip ${FIXTURE.unreadableTable}: ${skipped.join(", ")}`,
    );
  }
  if (!m.pgDumpVersion.includes("(PostgreSQL) 17")) {
    throw new Error(`the backup used ${m.pgDumpVersion}, not pg_dump 17`);
  }

  heading(4, "What the backup looks like");
  console.log(`${latest}/`);
  console.log((await tree(latest, 2)).join("\n"));
  const tables = m.schemas.flatMap((s) => s.tables);
  const rows = tables.reduce((n, t) => n + (t.kind === "p" ? 0 : t.rows ?? 0), 0);
  const files = Object.values(m.files);
  const kib = files.reduce((n, f) => n + f.bytes, 0) / 1024;
  console.log("manifest.json:");
  console.log(`  status      ${m.status}, ${m.createdAt}, server ${m.database.serverVersion}`);
  console.log(`  pg_dump     ${m.pgDumpVersion}`);
  console.log(
    `  snapshot    ${m.snapshot.consistent ? `one exported snapshot (${m.snapshot.id})` : m.snapshot.note}`,
  );
  console.log(
    `  schemas     ${m.schemas.map((s) => s.managed ? `${s.name}*` : s.name).join(", ")}  (* managed)`,
  );
  console.log(
    `  contents    ${tables.length} tables, ${rows} rows, ${files.length} files, ${kib.toFixed(0)} KiB`,
  );
  for (const s of m.skipped) console.log(`  skipped     ${s.schema}.${s.table}: ${s.reason}`);

  heading(5, "Drill: restoring into a scratch database and counting rows");
  const scratch = await cluster.createDatabase("drill_scratch");
  console.log(`an empty database '${scratch}', as the superuser (like a CI service container);`);
  console.log("the drill checks every file, restores everything with roles, and counts every table");
  const drill = await cli(["verify", "--out", outDir, "--drill"], {
    RESTORE_DB_URL: cluster.url({ db: scratch }),
  });
  const match = drill.stdout.match(/^(\d+)\/(\d+) tables match$/m);
  if (drill.code !== 0 || !match || match[1] !== match[2]) {
    throw new Error(
      `backup.ts verify --drill exited ${drill.code}: ${match?.[0] ?? "no 'N/N tables match' line"}`,
    );
  }

  heading(6, "Cleaning up");
  await cleanup();
  console.log("cluster stopped, temp dirs removed");
  console.log(`\ndrill: ${match[1]}/${match[2]} tables match the manifest`);
  console.log(`demo: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

let code = 0;
try {
  await main();
} catch (e) {
  code = abort.signal.aborted ? 130 : 1;
  if (!abort.signal.aborted) console.error(`\ndemo: FAILED in step ${current}: ${(e as Error).message}`);
} finally {
  await cleanup();
}
if (abort.signal.aborted) console.error("demo: interrupted; cluster stopped, temp dirs removed");
Deno.exit(code);
