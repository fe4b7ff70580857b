/**
 * `backup.ts list` and `backup.ts prune` run as real processes on real folders (and, for
 * `prune --push`, a real git repository with a bare central remote).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createHash } from "node:crypto";
import $ from "dax";
import { archiveName } from "../lib/store/rotation.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { runCli } from "./support/cli.ts";
import { assertGolden } from "./support/golden.ts";

const DAY = 86_400_000;
const GIT_ENV = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };

interface Spec {
  createdAt: Date;
  repo?: string;
  event?: string;
  sha?: string;
  status?: "ok" | "partial";
  tables?: number;
}

/** Writes a small backup (manifest with checksums + files) into `dir`; returns its manifest. */
async function writeBackup(dir: string, s: Spec): Promise<Manifest> {
  await Deno.mkdir(`${dir}/public`, { recursive: true });
  const files: Manifest["files"] = {};
  const tables = Array.from({ length: s.tables ?? 2 }, (_, i) => `t${i}`);
  for (const t of tables) {
    const text = `-- ${t} of ${s.createdAt.toISOString()}\n${"x".repeat(1000)}\n`;
    await Deno.mkdir(`${dir}/public/${t}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/public/${t}/data.sql`, text);
    files[`public/${t}/data.sql`] = {
      bytes: text.length,
      sha256: createHash("sha256").update(text).digest("hex"),
    };
  }
  const m: Manifest = {
    format: 1,
    createdAt: s.createdAt.toISOString(),
    tool: "supabase-backup test",
    source: { repo: s.repo ?? "acme/shop", event: s.event ?? "push", sha: s.sha ?? "abcdef1234" },
    database: { name: "postgres", serverVersion: "17.4", sizeBytes: 0, host: "localhost" },
    pgDumpVersion: "17.4",
    snapshot: { consistent: true },
    status: s.status ?? "ok",
    roles: null,
    schemas: [{
      name: "public",
      dump: "public/schema.dump",
      dumpBytes: 0,
      tables: tables.map((t) => ({
        name: t,
        rows: 1,
        schemaFile: "",
        dataFiles: [`public/${t}/data.sql`],
        bytes: files[`public/${t}/data.sql`].bytes,
      })),
    }],
    skipped: [],
    files,
    durationMs: 1,
  };
  await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(m, null, 2));
  return m;
}

/** A root with latest and `archives` (each `daysAgo`), archive names from their manifests. */
async function makeRoot(root: string, latest: Spec | undefined, archives: Spec[]): Promise<string[]> {
  await Deno.mkdir(`${root}/archive`, { recursive: true });
  if (latest) await writeBackup(`${root}/latest`, latest);
  const names: string[] = [];
  for (const a of archives) {
    const name = archiveName({
      createdAt: a.createdAt.toISOString(),
      source: { repo: a.repo ?? "acme/shop", event: a.event ?? "push", sha: a.sha ?? "abcdef1234" },
    });
    await writeBackup(`${root}/archive/${name}`, a);
    names.push(name);
  }
  return names;
}

async function dirNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("list: a missing root prints a helpful line and exits 0", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sb-list-" });
  try {
    const r = await runCli(["list", "--out", `${tmp}/nothing`]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(
      r.stdout.trim(),
      `no backups in ${tmp}/nothing yet; run 'backup.ts backup --out ${tmp}/nothing' to make one`,
    );
    const j = await runCli(["list", "--json", "--out", `${tmp}/nothing`]);
    assertEquals(j.code, 0, j.stderr);
    assertEquals(JSON.parse(j.stdout), { roots: [{ root: `${tmp}/nothing`, backups: [] }] });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("list: latest and archives with time, source, size, status, tables (golden + JSON)", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sb-list-" });
  try {
    const root = `${tmp}/backups`;
    await makeRoot(root, { createdAt: new Date("2025-05-03T08:00:00Z"), tables: 3, sha: "1234567abc" }, [
      { createdAt: new Date("2025-05-02T08:00:00Z"), repo: "acme/api", event: "schedule", status: "partial" },
      { createdAt: new Date("2025-05-01T08:00:00Z"), event: "workflow_dispatch", tables: 1 },
    ]);
    // A damaged archive: no manifest, its time is read from its name.
    await Deno.mkdir(`${root}/archive/2025-04-30T08-00-00Z--unknown--unknown--0000000`);
    await Deno.writeTextFile(
      `${root}/archive/2025-04-30T08-00-00Z--unknown--unknown--0000000/x.sql`,
      "12345",
    );
    // Hidden leftovers are not backups.
    await Deno.mkdir(`${root}/.staging-abc`);

    const r = await runCli(["list", "--out", root]);
    assertEquals(r.code, 0, r.stderr);
    await assertGolden("list/table.txt", r.stdout.replaceAll(tmp, "<tmp>"));

    const j = await runCli(["list", "--json"], { BACKUP_DIR: root });
    assertEquals(j.code, 0, j.stderr);
    const { roots } = JSON.parse(j.stdout);
    assertEquals(roots.length, 1);
    const b = roots[0].backups;
    assertEquals(b.map((x: { backup: string }) => x.backup), [
      "latest",
      "archive/2025-05-02T08-00-00Z--acme-api--schedule--abcdef1",
      "archive/2025-05-01T08-00-00Z--acme-shop--workflow_dispatch--abcdef1",
      "archive/2025-04-30T08-00-00Z--unknown--unknown--0000000",
    ]);
    assertEquals(b.map((x: { status: string }) => x.status), ["ok", "partial", "ok", "damaged"]);
    assertEquals(b.map((x: { tables: number | null }) => x.tables), [3, 2, 1, null]);
    assertEquals(b[0].source, { repo: "acme/shop", event: "push", sha: "1234567abc" });
    // Sizes: the sum of the manifest's files; the damaged one from disk.
    assertEquals(b[0].bytes, 3 * 1035); // "-- tN of <iso>\n" + 1000 x + "\n"
    assertEquals(b[3].bytes, 5);
    assertEquals(b[3].createdAt, "2025-04-30T08:00:00.000Z");
    assertEquals(b[3].problem, "no manifest.json");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("list: manifests with fields of the wrong type are listed as damaged, naming the field", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sb-list-" });
  try {
    const root = `${tmp}/backups`;
    const names = await makeRoot(root, { createdAt: new Date("2025-05-03T08:00:00Z") }, [
      { createdAt: new Date("2025-05-02T08:00:00Z") },
    ]);
    const edit = async (dir: string, change: (m: Manifest) => void) => {
      const m = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
      change(m);
      await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(m));
    };
    // a size that is a string (it showed as 0 B), tables that are not a list (a crash)
    await edit(`${root}/latest`, (m) => (Object.values(m.files)[0] as { bytes: unknown }).bytes = "1035");
    await edit(`${root}/archive/${names[0]}`, (m) => (m.schemas[0] as { tables: unknown }).tables = {});
    const j = await runCli(["list", "--json", "--out", root]);
    assertEquals(j.code, 0, j.stderr);
    const b = JSON.parse(j.stdout).roots[0].backups;
    assertEquals(b.map((x: { status: string }) => x.status), ["damaged", "damaged"]);
    assertEquals(b[0].problem, 'manifest field files["public/t0/data.sql"].bytes must be a number');
    assertEquals(b[1].problem, "manifest field schemas[0].tables must be an array");
    assert(b[0].bytes > 2000, `size from disk: ${b[0].bytes}`);
    const text = await runCli(["list", "--out", root]);
    assertEquals(text.code, 0, text.stderr);
    assert(text.stdout.includes("damaged (manifest field schemas[0].tables must be an array)"), text.stdout);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("list: without --env, environment folders are listed each; --env picks one", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sb-list-" });
  try {
    await makeRoot(`${tmp}/prod`, { createdAt: new Date("2025-05-03T08:00:00Z") }, []);
    await makeRoot(`${tmp}/dev`, { createdAt: new Date("2025-05-02T08:00:00Z") }, [
      { createdAt: new Date("2025-05-01T08:00:00Z") },
    ]);
    const all = JSON.parse((await runCli(["list", "--json", "--out", tmp])).stdout);
    assertEquals(all.roots.map((r: { environment: string }) => r.environment), ["dev", "prod"]);
    assertEquals(all.roots.map((r: { backups: unknown[] }) => r.backups.length), [2, 1]);
    const text = await runCli(["list", "--out", tmp, "--env", "dev"]);
    assertEquals(text.code, 0);
    assert(text.stdout.startsWith(`${tmp}/dev: latest + 1 archive, `), text.stdout);
    const bad = await runCli(["list", "--out", tmp, "--env", "../x"]);
    assertEquals(bad.code, 2);
    assert(bad.stderr.includes("error: --env '../x' is not a valid environment name"), bad.stderr);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("prune: refuses without a policy, and refuses bad numbers (exit 2)", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sb-prune-" });
  try {
    const names = await makeRoot(tmp, { createdAt: new Date() }, [{ createdAt: new Date(Date.now() - DAY) }]);
    const r = await runCli(["prune", "--out", tmp]);
    assertEquals(r.code, 2);
    assert(r.stderr.includes("error: prune needs a policy"), r.stderr);
    assert(r.stderr.includes("hint: give at least one of --keep-last N"), r.stderr);
    const neg = await runCli(["prune", "--out", tmp, "--keep-last=-1"]);
    assertEquals(neg.code, 2);
    assert(neg.stderr.includes("--keep-last must be a whole number"), neg.stderr);
    const junk = await runCli(["prune", "--out", tmp, "--keep-within", "soon"]);
    assertEquals(junk.code, 2);
    assert(junk.stderr.includes("--keep-within 'soon' is not a duration"), junk.stderr);
    assertEquals(await dirNames(`${tmp}/archive`), names);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("prune: --dry-run changes nothing; a real run removes what the policy does not keep", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sb-prune-" });
  try {
    const now = Date.now();
    const names = await makeRoot(tmp, { createdAt: new Date(now) }, [
      { createdAt: new Date(now - 1 * DAY), sha: "1111111" },
      { createdAt: new Date(now - 2 * DAY), sha: "2222222" },
      { createdAt: new Date(now - 3 * DAY), sha: "3333333" },
      { createdAt: new Date(now - 40 * DAY), sha: "4444444" },
    ]);
    const dry = await runCli(["prune", "--out", tmp, "--keep-last", "2", "--dry-run"]);
    assertEquals(dry.code, 0, dry.stderr);
    const lines = dry.stdout.trim().split("\n");
    assertEquals(lines[0], `${tmp} (--keep-last 2): keep 2, would remove 2 (dry run, nothing changed)`);
    assertEquals(lines.slice(1).map((l) => l.split(/\s+/)[0]), ["keep", "keep", "remove", "remove"]);
    assert(lines[1].endsWith("last 1 of 2") && lines[1].includes(names[0]), lines[1]);
    assertEquals(await dirNames(`${tmp}/archive`), [...names].sort());

    const real = await runCli(["prune", "--out", tmp, "--keep-last", "2", "--json"]);
    assertEquals(real.code, 0, real.stderr);
    const j = JSON.parse(real.stdout).roots[0];
    assertEquals([j.kept, j.removed, j.dryRun, j.policy], [2, 2, false, "--keep-last 2"]);
    assertEquals(j.archives.map((a: { name: string; keep: boolean }) => [a.name, a.keep]), [
      [names[0], true],
      [names[1], true],
      [names[2], false],
      [names[3], false],
    ]);
    assertEquals(await dirNames(`${tmp}/archive`), [names[0], names[1]].sort());
    assertEquals(await dirNames(tmp), ["archive", "latest"]); // no leftovers; latest untouched
    assertEquals(
      JSON.parse(await Deno.readTextFile(`${tmp}/latest/manifest.json`)).createdAt,
      new Date(now).toISOString(),
    );

    // keep-within shorter than every archive: the newest archive still stays.
    const within = await runCli(["prune", "--out", tmp, "--keep-within", "1h"]);
    assertEquals(within.code, 0, within.stderr);
    assert(within.stdout.includes("newest archive (always kept)"), within.stdout);
    assertEquals(await dirNames(`${tmp}/archive`), [names[0]]);
    assert((await dirNames(tmp)).includes("latest"));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("prune: a root of environments asks for --env; --env both prunes prod and dev", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sb-prune-" });
  try {
    const now = Date.now();
    const old = [{ createdAt: new Date(now - DAY) }, { createdAt: new Date(now - 2 * DAY) }];
    const prod = await makeRoot(`${tmp}/prod`, { createdAt: new Date(now) }, old);
    const dev = await makeRoot(`${tmp}/dev`, { createdAt: new Date(now) }, old);
    const r = await runCli(["prune", "--out", tmp, "--keep-last", "1"]);
    assertEquals(r.code, 2);
    assert(r.stderr.includes(`error: ${tmp} holds environments (dev, prod), not archives`), r.stderr);
    const both = await runCli(["prune", "--out", tmp, "--env", "both", "--keep-last", "1"]);
    assertEquals(both.code, 0, both.stderr);
    assertEquals(await dirNames(`${tmp}/prod/archive`), [prod[0]]);
    assertEquals(await dirNames(`${tmp}/dev/archive`), [dev[0]]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("prune --push commits the removal to a real remote", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sb-prune-git-" });
  const git = (dir: string, ...args: string[]) =>
    $`git -C ${dir} ${args}`.env(GIT_ENV).stdout("piped").stderr("piped").then((r) => r.stdout.trim());
  try {
    const bare = `${tmp}/central.git`;
    await $`git -c init.defaultBranch=main init --quiet --bare ${bare}`.env(GIT_ENV);
    const work = `${tmp}/work`;
    await $`git clone --quiet ${bare} ${work}`.env(GIT_ENV).stderr("piped");
    const now = Date.now();
    const names = await makeRoot(`${work}/backups`, { createdAt: new Date(now) }, [
      { createdAt: new Date(now - DAY) },
      { createdAt: new Date(now - 2 * DAY) },
      { createdAt: new Date(now - 3 * DAY) },
    ]);
    await git(work, "add", "-A");
    await git(work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "backups");
    await git(work, "push", "-q", "origin", "HEAD:refs/heads/main");

    const r = await runCli(["prune", "--keep-last", "1", "--push"], { ...GIT_ENV, BACKUP_DIR: "backups" }, {
      cwd: work,
    });
    assertEquals(r.code, 0, r.stderr);
    assert(/committed [0-9a-f]{7} and pushed \(1 attempt\(s\)\)/.test(r.stdout), r.stdout);
    const check = `${tmp}/check`;
    await $`git clone --quiet ${bare} ${check}`.env(GIT_ENV).stderr("piped");
    assertEquals(await dirNames(`${check}/backups/archive`), [names[0]]);
    assertEquals(
      await git(check, "log", "-1", "--format=%s|%an"),
      "prune: --keep-last 1|supabase-backup[bot]",
    );
    // The removed archives are still in history (see docs/storage.md to drop them for good).
    assert((await git(check, "log", "--format=%s")).includes("backups"));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
