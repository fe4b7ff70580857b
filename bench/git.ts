/**
 * `deno task bench:git`: 30 daily backups of the bench database into a git repository, the way the
 * central workflow makes them (issue 14): each day a fresh shallow, blobless, sparse clone of a bare
 * "central" repository (`fetch-depth: 1`, `filter: blob:none`, `'/*' '!/backups/'`: no backups checked
 * out, with `--checkout none`, the default; `'/*' '!/backups/*\/archive/'`: latest/ checked out, with
 * `--checkout latest`), 1% of the rows changed, one `backup --push`. Reports per day:
 *
 * - the clone's disk after the backup, `.git` and the work tree together (target: at most 1.2× one
 *   backup), and each alone (`.git` with its loose objects: the backup's new ones);
 * - the bytes the backup added to the central repository: its packed size (`git gc` after each
 *   push) against the day before; also what the push added before the repack, and the bytes the
 *   tool recorded for the commit (`repository.json`, measured packed: lib/store/growth.ts);
 * - the changed rows themselves, as text, gzip-compressed (target: added at most 2× that).
 *
 * At the end: the whole history repacked with `--window=250`, and what the later backups added by
 * kind of file (data.sql, dumps, trees, manifest.json, …) after `git gc`, after that repack (each
 * against the first backup alone, packed the same way), and as the tool measures the last one;
 * what the last backup adds (all backups packed, against all but the last packed the same way:
 * against the first alone, a wide window also finds that backup's cross-table deltas, which the
 * whole history's repack does not keep) after `git gc`, after `--window=250` and as recorded; how
 * its changed `data.sql` files are stored (against their own previous version, another file, or
 * whole); and, per day, what the push sends (its thin pack) and what the central repository
 * stores for it before a repack (the receiver appends the thin pack's bases whole).
 * Progress goes to stderr; the report (tables, then JSON) to stdout. Not a test.
 *
 *   deno task bench:git [--tables 200] [--mb 50] [--days 30] [--spread all|some] [--checkout none|latest]
 *
 * `--help` lists the flags; a bad flag or value (`--days` below 2 among them) stops it with one
 * `error:` and one `hint:` line, exit 2.
 *
 * `--spread all` (the default) changes 1% of the rows of every table, the hardest case: every
 * table's data changes, so every schema dump is new; `some` changes 10% of the rows of one table in
 * ten (the same 1% of all rows, in fewer tables).
 * @module
 */
import $ from "dax";
import { startCluster } from "../tests/support/cluster.ts";
import { REPO } from "../tests/support/paths.ts";
import { clientBinDir } from "../dev/pgenv.ts";
import { type DatasetTable, planDataset, tableSql } from "./dataset.ts";
import { type ListedObject, planMeasurePack } from "../lib/store/growth.ts";
import { choiceArg, intArg, parseBenchArgs, runBench } from "./args.ts";

const log = (l: string) => console.error(`bench: ${l}`);
const GIT_ENV = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };

async function git(dir: string, ...args: string[]): Promise<string> {
  return (await $`git -C ${dir} ${args}`.env(GIT_ENV).stdout("piped").stderr("piped")).stdout.trim();
}

/** Bytes of the regular files under `dir` (`.git` left out unless `withGit`). */
async function bytesUnder(dir: string, withGit = false): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    if (!withGit && e.name === ".git") continue;
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) n += await bytesUnder(p, true);
    else if (e.isFile) n += (await Deno.stat(p)).size;
  }
  return n;
}

/** {@link bytesUnder} `dir` and its `.git`, while a run changes them: what vanishes meanwhile counts 0. */
async function bytesNow(dir: string): Promise<number> {
  let n = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) n += await bytesNow(p);
      else if (e.isFile) n += await Deno.stat(p).then((i) => i.size, () => 0);
    }
  } catch {
    // removed meanwhile
  }
  return n;
}

/** `count-objects -v`: loose plus packed bytes. */
async function repoBytes(dir: string): Promise<number> {
  const out = await git(dir, "count-objects", "-v");
  const kib = (k: string) => Number(out.match(new RegExp(`^${k}: (\\d+)$`, "m"))?.[1] ?? 0);
  return (kib("size") + kib("size-pack")) * 1024;
}

/** What an object of a backup is, by its path: the composition of the bytes a backup adds. */
function category(type: string, path: string): string {
  if (type !== "blob") return `${type}s`;
  const base = path.split("/").at(-1) ?? "";
  if (/^data(\.\d+)?\.sql$/.test(base)) return "data.sql";
  if (base.endsWith(".dump")) return "dumps";
  if (base === "schema.sql") return "schema.sql";
  if (
    base === "manifest.json" || base === "repository.json" || base === "catalog.sql" || base === "roles.sql"
  ) {
    return base;
  }
  return "other";
}

/**
 * The bytes (as stored in the repository's packs now: a delta counts its delta) of the objects
 * reachable from `head`, by {@link category}.
 */
async function composition(bare: string, head: string): Promise<Record<string, number>> {
  const listed = await git(bare, "rev-list", "--objects", head);
  const paths = new Map<string, string>();
  for (const line of listed.split("\n").filter(Boolean)) {
    const sp = line.indexOf(" ");
    paths.set(sp < 0 ? line : line.slice(0, sp), sp < 0 ? "" : line.slice(sp + 1));
  }
  const sized =
    await $`git -C ${bare} cat-file --batch-check=${"%(objectname) %(objecttype) %(objectsize:disk)"}`
      .env(GIT_ENV).stdinText([...paths.keys()].join("\n") + "\n").stdout("piped").stderr("piped");
  const out: Record<string, number> = {};
  for (const line of sized.stdout.trim().split("\n")) {
    const [oid, type, size] = line.split(" ");
    const c = category(type, paths.get(oid) ?? "");
    out[c] = (out[c] ?? 0) + Number(size);
  }
  return out;
}

/**
 * What the backups after the first added, by kind of file, in total: the repository's composition
 * at `head` less that of a repository holding the first backup's commit only, both packed by
 * `repack` (git's newest version of a file is stored whole and older ones as deltas, so the new
 * objects alone do not tell).
 */
async function addedComposition(
  bare: string,
  first: string,
  repack: (dir: string) => Promise<unknown>,
): Promise<{ firstBytes: number; byKind: Record<string, number> }> {
  const one = `${bare}-first`;
  await Deno.remove(one, { recursive: true }).catch(() => {});
  await $`git init --quiet --bare ${one}`.env(GIT_ENV);
  await git(bare, "push", "-q", one, `${first}:refs/heads/main`);
  await repack(one);
  const [all, base] = [await composition(bare, "main"), await composition(one, "main")];
  const firstBytes = await repoBytes(one);
  await Deno.remove(one, { recursive: true });
  return {
    firstBytes,
    byKind: Object.fromEntries(Object.keys(all).map((k) => [k, all[k] - (base[k] ?? 0)])),
  };
}

/**
 * What one backup commit adds, by kind of file, measured as the tool measures it (lib/store/git.ts):
 * each kind's new objects packed as deltas against the previous commit's objects at their places.
 */
async function measuredComposition(
  bare: string,
  commit: string,
  root: string,
): Promise<Record<string, number>> {
  const sub = await git(bare, "rev-parse", `${commit}:${root}`);
  const before = await git(bare, "rev-parse", `${commit}~1:${root}`);
  const added = (await git(bare, "rev-list", "--objects", sub, "--not", before)).split("\n").filter(Boolean)
    .map(
      (l) => ({ oid: l.split(" ")[0], path: l.includes(" ") ? l.slice(l.indexOf(" ") + 1) : "" }),
    );
  const previous: ListedObject[] = [{ oid: before, path: "", mode: "040000", type: "tree" }];
  for (const line of (await git(bare, "ls-tree", "-r", "-t", before)).split("\n").filter(Boolean)) {
    const [meta, path] = line.split("\t");
    const [mode, type, oid] = meta.split(" ");
    previous.push({ oid, path, mode, type });
  }
  const types = new Map(
    (await $`git -C ${bare} cat-file --batch-check=${"%(objectname) %(objecttype)"}`.env(GIT_ENV)
      .stdinText(added.map((a) => a.oid).join("\n") + "\n").stdout("piped")).stdout.trim().split("\n")
      .map((l) => l.split(" ") as [string, string]),
  );
  const byKind = new Map<string, typeof added>();
  for (const a of added) {
    const k = category(types.get(a.oid) ?? "blob", a.path);
    byKind.set(k, [...(byKind.get(k) ?? []), a]);
  }
  const out: Record<string, number> = {};
  const tmp = await Deno.makeTempDir({ prefix: "bench-measure-" });
  try {
    for (const [k, objects] of byKind) {
      const plan = planMeasurePack(objects, previous);
      const lines = [...plan.objects];
      if (plan.baseEntries.length > 0) {
        const tree = (await $`git -C ${bare} mktree -z --missing`.env(GIT_ENV)
          .stdinText(plan.baseEntries.map((e) => `${e}\0`).join("")).stdout("piped")).stdout.trim();
        lines.unshift(`-${tree}`);
      }
      const name = (await $`git -C ${bare} pack-objects -q ${tmp}/${k}`.env(GIT_ENV)
        .stdinText(lines.map((l) => `${l}\n`).join("")).stdout("piped")).stdout.trim();
      out[k] = (await Deno.stat(`${tmp}/${k}-${name}.pack`)).size;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  return out;
}

/** The bytes of the files of `<commit>:<path>` (a backup as committed: its size on disk when checked out). */
async function committedBytes(repo: string, commit: string, path: string): Promise<number> {
  let n = 0;
  for (const line of (await git(repo, "ls-tree", "-r", "-l", `${commit}:${path}`)).split("\n")) {
    const size = Number(line.split("\t")[0].trim().split(/\s+/)[3]);
    if (Number.isFinite(size)) n += size;
  }
  return n;
}

/** How a changed file of the last backup is stored in a pack, with its previous version. */
export type Pairing = "own" | "other" | "whole";

/** The census of {@link pairings}: how many changed files are stored each way, and their bytes. */
export type PairingCensus = Record<Pairing, { files: number; bytes: number }>;

/**
 * How each changed file of a backup is stored in a pack (pure), from `verify-pack -v`'s rows
 * (`oid → packed bytes and delta base`) and the pairs (new id, previous id at the same path):
 * `own` when either is a delta against the other (git often keeps the newer whole and makes the
 * older a delta: the bytes counted are then the older's), `other` when the new one is a delta
 * against anything else (another table's file), `whole` when neither is a delta of the other and
 * the new one is stored whole.
 */
export function pairings(
  packed: ReadonlyMap<string, { bytes: number; base?: string }>,
  pairs: readonly { oid: string; previous: string }[],
): PairingCensus {
  const out: PairingCensus = {
    own: { files: 0, bytes: 0 },
    other: { files: 0, bytes: 0 },
    whole: { files: 0, bytes: 0 },
  };
  for (const { oid, previous } of pairs) {
    const n = packed.get(oid);
    const o = packed.get(previous);
    if (!n) continue;
    const kind: Pairing = n.base === previous || o?.base === oid ? "own" : n.base ? "other" : "whole";
    out[kind].files++;
    out[kind].bytes += kind === "own" && o?.base === oid ? o.bytes : n.bytes;
  }
  return out;
}

/**
 * {@link pairings} of the `data.sql` files that `head` of the bare repository changed against its
 * parent, in the repository's packs as they are (after a `git gc` or a repack).
 */
async function dataPairings(bare: string, head: string, under: string): Promise<PairingCensus> {
  const files = async (commit: string) =>
    new Map(
      (await git(bare, "ls-tree", "-r", commit, "--", under)).split("\n").filter(Boolean).map((l) => {
        const [meta, path] = l.split("\t");
        return [path, meta.split(" ")[2]] as const;
      }).filter(([path]) => /\/data\.sql$/.test(path)),
    );
  const now = await files(head);
  const before = await files(`${head}~1`);
  const pairs = [...now].flatMap(([path, oid]) => {
    const previous = before.get(path);
    return previous && previous !== oid ? [{ oid, previous }] : [];
  });
  const packed = new Map<string, { bytes: number; base?: string }>();
  for await (const e of Deno.readDir(`${bare}/objects/pack`)) {
    if (!e.name.endsWith(".idx")) continue;
    for (const line of (await git(bare, "verify-pack", "-v", `${bare}/objects/pack/${e.name}`)).split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5 || !/^[0-9a-f]{40,64}$/.test(f[0])) continue;
      packed.set(f[0], { bytes: Number(f[3]), ...(f.length >= 7 ? { base: f[6] } : {}) });
    }
  }
  return pairings(packed, pairs);
}

/**
 * The bytes `git push` sent for the clone's last commit: the thin pack of it against its parent
 * (what the remote had), made again the way send-pack makes it.
 */
async function sentBytes(clone: string): Promise<number> {
  const child = new Deno.Command("git", {
    args: ["-C", clone, "pack-objects", "--revs", "--thin", "--stdout", "-q", "--delta-base-offset"],
    env: GIT_ENV,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode("HEAD\n^HEAD~1\n"));
  await w.close();
  const out = await child.output();
  return out.code === 0 ? out.stdout.byteLength : 0;
}

/** `count-objects -v`: loose bytes only. */
async function looseBytes(dir: string): Promise<number> {
  const out = await git(dir, "count-objects", "-v");
  return Number(out.match(/^size: (\d+)$/m)?.[1] ?? 0) * 1024;
}

async function gzipBytes(text: string): Promise<number> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

/** The condition choosing a table's changed rows on `day` (stable across the update). */
function changed(t: DatasetTable, day: number, spread: "all" | "some"): string | undefined {
  if (spread === "some" && t.index % 10 !== day % 10) return undefined;
  const mod = spread === "all" ? 100 : 10;
  const key = t.shape === "account" ? "abs(hashtext(email))" : "id";
  return `${key} % ${mod} = ${day % mod}`;
}

function updateSql(t: DatasetTable, where: string): string {
  const q = `${t.schema}.${t.name}`;
  switch (t.shape) {
    case "event":
      return `UPDATE ${q} SET kind = kind + 1 WHERE ${where};`;
    case "account":
      return `UPDATE ${q} SET score = score + 1 WHERE ${where};`;
    case "ledger":
      return `UPDATE ${q} SET amount = amount + 1 WHERE ${where};`;
  }
}

const mb = (n: number) => (n / 1e6).toFixed(2);

const TASK = "bench:git";

/** What `--help` prints. */
export const USAGE = `usage: deno task ${TASK} [options]
  --tables N                tables of the bench database (default 200)
  --mb N                    their data, in MB (default 50)
  --days N                  daily backups, at least 2: the report is about the later ones (default 30)
  --spread all|some         all: 1% of the rows of every table change each day (default); some: 10%
                            of the rows of one table in ten
  --checkout none|latest    what each day's sparse clone checks out of backups/: nothing (default),
                            or latest/
  --help                    this text`;

/** The flags of `bench:git`. */
export interface GitBenchArgs {
  tables: number;
  mb: number;
  days: number;
  spread: "all" | "some";
  checkout: "none" | "latest";
}

/** The flags of `bench:git`, as parseArgs takes them. */
export const FLAGS = {
  tables: { type: "string" },
  mb: { type: "string" },
  days: { type: "string" },
  spread: { type: "string" },
  checkout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The bench's flags (pure): undefined for `--help`. Throws a usage BackupError for a bad flag or value. */
export function parseGitArgs(argv: string[]): GitBenchArgs | undefined {
  const values = parseBenchArgs(TASK, argv, FLAGS);
  if (values.help) return undefined;
  return {
    tables: intArg(TASK, "tables", values.tables, 200, 1),
    mb: intArg(TASK, "mb", values.mb, 50, 1),
    days: intArg(TASK, "days", values.days, 30, 2),
    spread: choiceArg(TASK, "spread", values.spread, ["all", "some"]),
    checkout: choiceArg(TASK, "checkout", values.checkout, ["none", "latest"]),
  };
}

async function main() {
  const args = parseGitArgs(Deno.args);
  if (!args) return console.log(USAGE);
  const { checkout, spread, days } = args;
  const patterns = checkout === "none" ? ["/*", "!/backups/"] : ["/*", "!/backups/*/archive/"];
  const tables = planDataset({ tables: args.tables, mb: args.mb });
  log(`starting PostgreSQL 17 and loading ${tables.length} tables, ~${args.mb} MB`);
  const cluster = await startCluster(17);
  const tmp = await Deno.makeTempDir({ prefix: "bench-git-" });
  try {
    const db = await cluster.createDatabase("bench");
    for (let i = 0; i < tables.length; i += 10) {
      await cluster.sql(tables.slice(i, i + 10).map((t) => tableSql(t, tables)).join("\n"), { db });
    }
    await cluster.sql("VACUUM (FREEZE, ANALYZE)", { db });
    const bare = `${tmp}/central.git`;
    await $`git -c init.defaultBranch=main init --quiet --bare ${bare}`.env(GIT_ENV);
    await git(bare, "config", "uploadpack.allowFilter", "true");
    const seed = `${tmp}/seed`;
    await $`git clone --quiet ${bare} ${seed}`.env(GIT_ENV).stderr("piped");
    await Deno.writeTextFile(`${seed}/README.md`, "# backups\n");
    await git(seed, "add", "-A");
    await git(seed, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-qm", "init");
    await git(seed, "push", "-q", "origin", "HEAD:refs/heads/main");
    await Deno.remove(seed, { recursive: true });

    const rows: {
      day: number;
      seconds: number;
      backupBytes: number;
      workTreeBytes: number;
      gitDirBytes: number;
      diskBytes: number;
      peakBytes: number;
      gitLooseBytes: number;
      pushedBytes: number;
      sentBytes: number;
      packedBytes: number;
      recordedBytes: number;
      changedRows: number;
      changedGzipBytes: number;
    }[] = [];
    await git(bare, "gc", "--quiet", "--prune=now");
    let central = await repoBytes(bare);
    for (let day = 1; day <= days; day++) {
      let text = "";
      let count = 0;
      if (day > 1) {
        const updates: string[] = [];
        for (const t of tables) {
          const where = changed(t, day, spread);
          if (!where) continue;
          updates.push(updateSql(t, where));
        }
        await cluster.sql(updates.join("\n"), { db });
        for (const t of tables) {
          const where = changed(t, day, spread);
          if (!where) continue;
          const out = await cluster.sql(`SELECT t::text FROM ${t.schema}.${t.name} t WHERE ${where}`, { db });
          text += out;
          count += out.split("\n").filter(Boolean).length;
        }
      }
      const clone = `${tmp}/day${day}`;
      await $`git clone --quiet --depth=1 --filter=blob:none --no-checkout file://${bare} ${clone}`.env(
        GIT_ENV,
      )
        .stderr("piped");
      await git(clone, "sparse-checkout", "set", "--no-cone", ...patterns);
      await git(clone, "checkout", "--quiet", "main");
      const started = performance.now();
      // the clone's disk while the backup runs (staging folder, loose objects), sampled
      let peakBytes = 0;
      let running = true;
      const sampler = (async () => {
        while (running) {
          peakBytes = Math.max(peakBytes, await bytesNow(clone));
          await new Promise((res) => setTimeout(res, 200));
        }
      })();
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          "--quiet",
          `${REPO}/backup.ts`,
          "backup",
          "--db-url",
          cluster.url({ db }),
          "--out",
          `${clone}/backups/prod`,
          "--push",
          "--yes",
          "--json",
        ],
        env: { ...GIT_ENV, PG_BIN: clientBinDir(), NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      running = false;
      await sampler;
      const seconds = (performance.now() - started) / 1000;
      if (r.code !== 0) {
        throw new Error(`day ${day}: backup exit ${r.code}\n${new TextDecoder().decode(r.stderr)}`);
      }
      const summary = JSON.parse(new TextDecoder().decode(r.stdout))[0];
      const pushed = await repoBytes(bare);
      const sent = day > 1 ? await sentBytes(clone) : pushed - central;
      await git(bare, "gc", "--quiet", "--prune=now");
      const after = await repoBytes(bare);
      const workTreeBytes = await bytesUnder(clone);
      const gitDirBytes = await bytesUnder(`${clone}/.git`, true);
      rows.push({
        day,
        seconds: Math.round(seconds * 10) / 10,
        backupBytes: await committedBytes(bare, "main", "backups/prod/latest"),
        workTreeBytes,
        gitDirBytes,
        diskBytes: workTreeBytes + gitDirBytes,
        peakBytes: Math.max(peakBytes, workTreeBytes + gitDirBytes),
        gitLooseBytes: await looseBytes(clone),
        pushedBytes: pushed - central,
        sentBytes: sent,
        packedBytes: after - central,
        recordedBytes: summary.repository?.lastAddedBytes ?? 0,
        changedRows: count,
        changedGzipBytes: day > 1 ? await gzipBytes(text) : 0,
      });
      central = after;
      const last = rows.at(-1)!;
      log(
        `day ${day}: ${last.seconds} s, disk ${mb(last.diskBytes)} MB (peak ${
          mb(last.peakBytes)
        }), work tree ${mb(last.workTreeBytes)} MB (backup ${mb(last.backupBytes)}), ` +
          `.git ${mb(last.gitDirBytes)} MB, pushed ${mb(last.pushedBytes)} MB (sent ${
            mb(last.sentBytes)
          }), packed +${mb(last.packedBytes)} MB, ` +
          `changed ${count} rows ` +
          `(${mb(last.changedGzipBytes)} MB gz)`,
      );
      await Deno.remove(clone, { recursive: true });
      await new Promise((res) => setTimeout(res, 1100)); // archive names are by the second
    }
    const packed = await repoBytes(bare);
    const firstCommit = (await git(bare, "rev-list", "--reverse", "main")).split("\n")[1];
    const gc = (dir: string) => git(dir, "gc", "--quiet", "--prune=now");
    const pairedGc = await dataPairings(bare, "main", "backups/prod/latest");
    const composed = await addedComposition(bare, firstCommit, gc);
    // what the last backup adds: all of them against all but the last, each packed the same way
    // (against the first alone, a wide window also finds the first backup's cross-table deltas,
    // which the whole history's repack does not keep, and the average per later backup grows)
    const previousCommit = await git(bare, "rev-parse", "main~1");
    const lastGc = await addedComposition(bare, previousCommit, gc);
    // git gc's window of 10 often pairs a data.sql with another table's (the same name hash, a
    // similar size) instead of its own previous version; does a wide window find it?
    const wide = (dir: string) => git(dir, "repack", "-a", "-d", "-f", "-q", "--window=250", "--depth=50");
    await wide(bare);
    const packedWide = await repoBytes(bare);
    const pairedWide = await dataPairings(bare, "main", "backups/prod/latest");
    const lastWide = await addedComposition(bare, previousCommit, wide);
    const composedWide = await addedComposition(bare, firstCommit, wide);
    const measured = await measuredComposition(bare, "main", "backups/prod");
    const later = rows.slice(1);
    const avg = (f: (r: (typeof rows)[0]) => number) => later.reduce((s, r) => s + f(r), 0) / later.length;
    const oneBackup = Math.max(...rows.map((r) => r.backupBytes));
    const maxTree = Math.max(...rows.map((r) => r.workTreeBytes));
    const maxDisk = Math.max(...rows.map((r) => r.diskBytes));
    const report = {
      tables: tables.length,
      mb: args.mb,
      days,
      spread,
      checkout,
      oneBackupBytes: oneBackup,
      maxDiskBytes: maxDisk,
      diskRatio: Math.round((maxDisk / oneBackup) * 1000) / 1000,
      maxPeakBytes: Math.max(...rows.map((r) => r.peakBytes)),
      maxWorkTreeBytes: maxTree,
      workTreeRatio: Math.round((maxTree / oneBackup) * 1000) / 1000,
      maxGitDirBytes: Math.max(...rows.map((r) => r.gitDirBytes)),
      firstPackedBytes: rows[0].packedBytes,
      avgPushedBytes: Math.round(avg((r) => r.pushedBytes)),
      avgSentBytes: Math.round(avg((r) => r.sentBytes)),
      avgPackedBytes: Math.round(avg((r) => r.packedBytes)),
      avgRecordedBytes: Math.round(avg((r) => r.recordedBytes)),
      avgChangedGzipBytes: Math.round(avg((r) => r.changedGzipBytes)),
      centralPackedBytes: packed,
      centralPackedWideBytes: packedWide,
      // against the first backup packed the same way (alone, a wide window packs it smaller too)
      firstPackedWideBytes: composedWide.firstBytes,
      avgPackedWideBytes: Math.round((packedWide - composedWide.firstBytes) / later.length),
      avgPackedGcBytes: Math.round((packed - composed.firstBytes) / later.length),
      /** What the later backups added, by kind of file, per backup: after gc, and after --window=250. */
      composition: Object.fromEntries(
        Object.keys({ ...composed.byKind, ...composedWide.byKind }).sort().map((k) => [k, {
          gc: Math.round((composed.byKind[k] ?? 0) / later.length),
          wide: Math.round((composedWide.byKind[k] ?? 0) / later.length),
          measured: measured[k] ?? 0,
        }]),
      ),
      /** The last backup's changed data.sql files: stored against their own previous version, another table's, or whole. */
      dataPairing: { gc: pairedGc, wide: pairedWide },
      /** What the last backup adds: the history packed against all but the last, packed the same way. */
      lastAddedGcBytes: packed - lastGc.firstBytes,
      lastAddedWideBytes: packedWide - lastWide.firstBytes,
      lastRecordedBytes: rows.at(-1)!.recordedBytes,
      lastComposition: Object.fromEntries(
        Object.keys({ ...lastGc.byKind, ...lastWide.byKind }).sort().map((k) => [k, {
          gc: lastGc.byKind[k] ?? 0,
          wide: lastWide.byKind[k] ?? 0,
          measured: measured[k] ?? 0,
        }]),
      ),
      rows,
    };
    const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : "-");
    console.log(
      [
        `git at scale: ${tables.length} tables, ~${args.mb} MB, ${days} daily backups, 1% of rows changed (${spread}), checkout ${
          checkout === "none" ? "without backups" : "with latest/"
        }`,
        "",
        "| figure | value |",
        "| --- | ---: |",
        `| one backup (latest/) | ${mb(oneBackup)} MB |`,
        `| disk of a clone after its backup (.git and work tree), at most | ${mb(maxDisk)} MB (${
          ratio(maxDisk, oneBackup)
        }×, target ≤ 1.2×) |`,
        `| disk of a clone while its backup runs (staging and new objects), at most | ${
          mb(report.maxPeakBytes)
        } MB (${ratio(report.maxPeakBytes, oneBackup)}×) |`,
        `| work tree of a clone, at most | ${mb(maxTree)} MB (${ratio(maxTree, oneBackup)}×) |`,
        `| .git of a fresh clone, at most | ${mb(report.maxGitDirBytes)} MB (${
          ratio(report.maxGitDirBytes, oneBackup)
        }×; loose objects at most ${mb(Math.max(...rows.map((r) => r.gitLooseBytes)))} MB) |`,
        `| first backup, packed | ${mb(report.firstPackedBytes)} MB |`,
        `| added per later backup, packed (average) | ${mb(report.avgPackedBytes)} MB (${
          ratio(report.avgPackedBytes, report.avgChangedGzipBytes)
        }× the changed rows, target ≤ 2×) |`,
        `| the same, from one gc of all ${days} against one of the first alone | ${
          mb(report.avgPackedGcBytes)
        } MB |`,
        `| added per later backup, as pushed before a repack | ${mb(report.avgPushedBytes)} MB |`,
        `| sent per later backup by the push (thin pack) | ${mb(report.avgSentBytes)} MB |`,
        `| recorded per later backup (repository.json) | ${mb(report.avgRecordedBytes)} MB |`,
        `| changed rows per day, gzip | ${mb(report.avgChangedGzipBytes)} MB |`,
        `| central repository after ${days} backups, packed | ${mb(packed)} MB |`,
        `| the same, repacked with --window=250 | ${mb(packedWide)} MB (the first backup alone: ${
          mb(report.firstPackedWideBytes)
        } MB) |`,
        `| added per later backup, --window=250, against the first backup packed alone (too high: see the last backup below) | ${
          mb(report.avgPackedWideBytes)
        } MB (${ratio(report.avgPackedWideBytes, report.avgChangedGzipBytes)}× the changed rows) |`,
        "",
        "| added per later backup, by file (average) | after gc | --window=250 | as the tool measures the last |",
        "| --- | ---: | ---: | ---: |",
        ...Object.entries(report.composition).map(([k, v]) =>
          `| ${k} | ${(v.gc / 1e3).toFixed(1)} kB | ${(v.wide / 1e3).toFixed(1)} kB | ${
            (v.measured / 1e3).toFixed(1)
          } kB |`
        ),
        "",
        "| the last backup, added (all backups packed, against all but the last) | after gc | --window=250 | recorded |",
        "| --- | ---: | ---: | ---: |",
        `| in all | ${(report.lastAddedGcBytes / 1e3).toFixed(1)} kB | ${
          (report.lastAddedWideBytes / 1e3).toFixed(1)
        } kB | ${(report.lastRecordedBytes / 1e3).toFixed(1)} kB |`,
        ...Object.entries(report.lastComposition).filter(([, v]) => v.gc || v.wide || v.measured).map((
          [k, v],
        ) =>
          `| ${k} | ${(v.gc / 1e3).toFixed(1)} kB | ${(v.wide / 1e3).toFixed(1)} kB | ${
            (v.measured / 1e3).toFixed(1)
          } kB |`
        ),
        "",
        "| the last backup's changed data.sql, stored against | after gc | --window=250 |",
        "| --- | ---: | ---: |",
        ...(["own", "other", "whole"] as const).map((k) =>
          `| ${{ own: "its previous version", other: "another file", whole: "nothing (whole)" }[k]} | ${
            pairedGc[k].files
          } files, ${(pairedGc[k].bytes / 1e3).toFixed(1)} kB | ${pairedWide[k].files} files, ${
            (pairedWide[k].bytes / 1e3).toFixed(1)
          } kB |`
        ),
        "",
        JSON.stringify(report, null, 2),
      ].join("\n"),
    );
  } finally {
    await cluster.stop();
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) await runBench(main);
