/**
 * A clone that holds no backups (issue 14), through the real CLI on a real PostgreSQL 17, real
 * pg_dump and real git: each backup is pushed from a fresh `--depth 1 --filter=blob:none` clone
 * whose sparse-checkout patterns leave out every backup (`'/*' '!/backups/'`), as the central
 * workflow checks out. Nothing of a backup is ever written to the work tree: latest/, the archives
 * and repository.json are kept in git only, `list` reads them from git, `restore --from
 * HEAD:<path>` restores and verifies latest/ from git, and `--from latest` says so. A backup that fails, or
 * is killed, just before its commit leaves HEAD, the index and the work tree as they were.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import $ from "dax";
import { type Cluster, startCluster } from "./support/cluster.ts";
import { listFiles, runCli, spawnCli } from "./support/cli.ts";
import { clientBinDir } from "../dev/pgenv.ts";

const GIT_ENV = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };
const TOOLS = { PG_BIN: clientBinDir(), ...GIT_ENV };

async function git(dir: string, ...args: string[]): Promise<string> {
  return (await $`git -C ${dir} ${args}`.env(GIT_ENV).stdout("piped").stderr("piped")).stdout.trim();
}

const out = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`;

/** The files of the clone's work tree, `.git` left out. */
async function workTree(dir: string): Promise<string[]> {
  return (await listFiles(dir)).filter((f) => f !== ".git" && !f.startsWith(".git/"));
}

/** A bare central repository (allowing blobless clones) with one commit holding README.md. */
async function central(tmp: string): Promise<string> {
  const bare = `${tmp}/central.git`;
  await $`git -c init.defaultBranch=main init --quiet --bare ${bare}`.env(GIT_ENV);
  await git(bare, "config", "uploadpack.allowFilter", "true");
  const seed = `${tmp}/seed`;
  await $`git clone --quiet ${bare} ${seed}`.env(GIT_ENV).stderr("piped");
  await Deno.writeTextFile(`${seed}/README.md`, "# backups\n");
  await git(seed, "add", "-A");
  await git(seed, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-qm", "init");
  await git(seed, "push", "-q", "origin", "HEAD:refs/heads/main");
  return bare;
}

/** A clone as the central workflow makes it: shallow, blobless, no backups checked out. */
async function workflowClone(bare: string, dir: string): Promise<string> {
  await $`git clone --quiet --depth 1 --filter=blob:none --no-checkout file://${bare} ${dir}`.env(GIT_ENV)
    .stderr("piped");
  await git(dir, "sparse-checkout", "set", "--no-cone", "/*", "!/backups/");
  await git(dir, "checkout", "--quiet", "main");
  return dir;
}

/** What must not change when a backup fails: HEAD, the index (every entry and flag), the work tree. */
async function state(dir: string) {
  return {
    head: await git(dir, "rev-parse", "HEAD"),
    index: await git(dir, "ls-files", "-s", "-t"),
    status: await git(dir, "status", "--porcelain"),
    files: await workTree(dir),
  };
}

let cluster: Cluster | undefined;
let db = "";
let tmp = "";

async function setup(): Promise<void> {
  if (cluster) return;
  cluster = await startCluster(17);
  db = await cluster.createDatabase();
  await cluster.sql(
    `create table public.accounts(id int primary key, name text, balance int);
     insert into public.accounts select g, 'account ' || g, g from generate_series(1, 2000) g;`,
    { db },
  );
  tmp = await Deno.makeTempDir({ prefix: "gitonly-" });
}

const backupArgs = (dir: string, sha: string) => [
  "backup",
  "--db-url",
  cluster!.url({ db }),
  "--out",
  `${dir}/backups`,
  "--env",
  "prod",
  "--push",
  "--yes",
  "--sha",
  sha,
];

Deno.test("a clone without backups: four backups pushed from fresh workflow clones, nothing in the work tree", async () => {
  await setup();
  const bare = await central(`${tmp}`);
  let dir = "";
  const sums: number[] = [];
  for (let i = 1; i <= 4; i++) {
    await cluster!.sql(`update public.accounts set balance = balance + ${i} where id % 100 = ${i}`, { db });
    sums.push(Number((await cluster!.sql("select sum(balance) from public.accounts", { db })).trim()));
    dir = await workflowClone(bare, `${tmp}/day${i}`);
    const r = await runCli(backupArgs(dir, `${i}`.padStart(7, "0")), TOOLS);
    assertEquals(r.code, 0, out(r));
    ok(r.stdout.includes("kept in git only"), r.stdout);
    ok(/repository +\S/m.test(r.stdout), `the summary shows the repository: ${r.stdout}`);
    // nothing of any backup on disk, and the clone is clean
    assertEquals(await workTree(dir), ["README.md"], `day ${i}`);
    assertEquals(await git(dir, "status", "--porcelain"), "", `day ${i}`);
    // the commit holds latest/, the archives and the growth record
    const root = (await git(dir, "ls-tree", "--name-only", "HEAD:backups/prod")).split("\n");
    assertEquals(root, i === 1 ? ["latest", "repository.json"] : ["archive", "latest", "repository.json"]);
    const archives = i === 1 ? [] : (await git(dir, "ls-tree", "--name-only", "HEAD:backups/prod/archive"))
      .split("\n");
    assertEquals(archives.length, i - 1, archives.join("\n"));
    const record = JSON.parse(await git(dir, "show", "HEAD:backups/prod/repository.json"));
    assertEquals(record.backups.length, i);
    // the growth is measured against the previous versions, which this clone never had: fetched
    // for the measure (into a scratch directory), else every changed file counts whole
    const added = record.backups.map((b: { addedBytes: number }) => b.addedBytes);
    if (i > 1) ok(added[i - 1] < 0.3 * added[0], `day ${i}: recorded ${added}`);
    if (i === 1) continue;
    // the archive is the previous latest/ under a new name: the same tree object
    const before = await git(dir, "rev-parse", "HEAD~1:backups/prod/latest");
    const newest = archives.at(-1)!;
    assertEquals(await git(dir, "rev-parse", `HEAD:backups/prod/archive/${newest}`), before);
    await new Promise((res) => setTimeout(res, 1100)); // names a second apart
  }

  // list reads latest/ and the archives from git, and the growth record
  const list = await runCli(["list", "--out", `${dir}/backups`, "--json"], TOOLS);
  assertEquals(list.code, 0, out(list));
  const listed = JSON.parse(list.stdout).roots[0];
  assertEquals(listed.backups.length, 4, list.stdout);
  ok(listed.backups.every((b: { inGit?: boolean }) => b.inGit), list.stdout);
  assertEquals(listed.backups[0].backup, "latest");
  ok(listed.backups[0].tables >= 1 && listed.backups[0].bytes > 0, list.stdout);
  ok(listed.repository.sizeBytes > 0, list.stdout);

  // --from latest says what to pass; verify and restore read latest/ from git
  const verify = await runCli(["verify", "--out", `${dir}/backups`, "--env", "prod"], TOOLS);
  assertEquals(verify.code, 2, out(verify));
  ok(verify.stderr.includes("git sparse-checkout add /backups/prod/latest/"), verify.stderr);
  ok(verify.stderr.includes("--from HEAD:backups/prod/latest"), verify.stderr);
  const verified = await runCli(
    ["verify", "--out", `${dir}/backups`, "--env", "prod", "--from", "HEAD:backups/prod/latest"],
    TOOLS,
  );
  assertEquals(verified.code, 0, out(verified));
  // --all reads every backup kept in git only from HEAD
  const all = await runCli(["verify", "--out", `${dir}/backups`, "--env", "prod", "--all", "--json"], TOOLS);
  assertEquals(all.code, 0, out(all));
  const reports = JSON.parse(all.stdout).backups;
  assertEquals(reports.length, 4, all.stdout);
  const target = await cluster!.createDatabase();
  const restored = await runCli([
    "restore",
    "--out",
    `${dir}/backups`,
    "--env",
    "prod",
    "--from",
    "HEAD:backups/prod/latest",
    "--target-url",
    cluster!.url({ db: target }),
  ], TOOLS);
  assertEquals(restored.code, 0, out(restored));
  const sum = Number((await cluster!.sql("select sum(balance) from public.accounts", { db: target })).trim());
  assertEquals(sum, sums[3]);
  assertEquals(await workTree(dir), ["README.md"], "the restore wrote nothing to the clone");

  // prune finds the environment in git, and commits the removal in git only
  const pruned = await runCli([
    "prune",
    "--out",
    `${dir}/backups`,
    "--env",
    "prod",
    "--keep-last",
    "1",
    "--push",
  ], TOOLS);
  assertEquals(pruned.code, 0, out(pruned));
  assertEquals((await git(dir, "ls-tree", "--name-only", "HEAD:backups/prod/archive")).split("\n").length, 1);
  assertEquals(await workTree(dir), ["README.md"]);
  assertEquals(await git(dir, "status", "--porcelain"), "");
  assertEquals(await git(dir, "rev-parse", "HEAD"), await git(bare, "rev-parse", "main"), "pushed");
});

Deno.test("a clone without backups: a backup that fails or is killed at its commit leaves HEAD, the index and the work tree as they were", async () => {
  await setup();
  const bare = await central(`${tmp}/fail`);
  const dir = await workflowClone(bare, `${tmp}/fail/clone`);
  const first = await runCli(backupArgs(dir, "1111111"), TOOLS);
  assertEquals(first.code, 0, out(first));
  await git(dir, "sparse-checkout", "reapply");
  const before = await state(dir);

  // HEAD cannot move: the commit is refused after the rotation, retention and growth were done
  const hook = `${dir}/.git/hooks/reference-transaction`;
  await Deno.writeTextFile(hook, '#!/bin/sh\n[ "$1" = prepared ] && exit 1\nexit 0\n', { mode: 0o755 });
  await new Promise((res) => setTimeout(res, 1100));
  const failed = await runCli(backupArgs(dir, "2222222"), TOOLS);
  ok(failed.code !== 0, out(failed));
  assertEquals(await state(dir), before, "a failed backup changed the clone");

  // killed while git is committing: the hook holds the commit until the run is dead
  const held = `${tmp}/fail/held`;
  const go = `${tmp}/fail/go`;
  await Deno.writeTextFile(
    hook,
    `#!/bin/sh\nif [ "$1" = prepared ]; then\n  touch ${held}\n  while [ ! -e ${go} ]; do sleep 0.1; done\n  exit 1\nfi\nexit 0\n`,
    { mode: 0o755 },
  );
  const run = spawnCli(backupArgs(dir, "3333333"), TOOLS);
  for (let i = 0; !(await Deno.lstat(held).then(() => true, () => false)); i++) {
    ok(i < 1200, "the run never reached its commit");
    await new Promise((res) => setTimeout(res, 100));
  }
  run.child.kill("SIGKILL");
  await run.result;
  await Deno.writeTextFile(go, "");
  // git finishes its (refused) transaction once the hook is let go
  for (let i = 0; await Deno.lstat(`${dir}/.git/HEAD.lock`).then(() => true, () => false); i++) {
    ok(i < 100, "git never let go of HEAD");
    await new Promise((res) => setTimeout(res, 100));
  }
  await new Promise((res) => setTimeout(res, 300));
  const after = await state(dir);
  assertEquals({ ...after, status: "", files: [] }, { ...before, status: "", files: [] });
  // the killed run's files went into git's objects as they were hashed: none is left on disk but
  // its lock file
  ok(
    after.files.every((f) => f === "README.md" || /^backups\/prod\/\.staging-[0-9a-f]+\.lock$/.test(f)),
    after.files.join(),
  );

  // the next run succeeds; the killed run's backup was never committed
  await Deno.remove(hook);
  const next = await runCli(backupArgs(dir, "4444444"), TOOLS);
  assertEquals(next.code, 0, out(next));
  assertEquals(await workTree(dir), ["README.md"]);
  assertEquals(await git(dir, "status", "--porcelain"), "");
  const archives = (await git(dir, "ls-tree", "--name-only", "HEAD:backups/prod/archive")).split("\n");
  assertEquals(archives.length, 1, archives.join("\n"));
  ok(archives[0].endsWith("--1111111"), archives.join("\n"));
  const left = await Array.fromAsync(Deno.readDir(`${dir}/backups/prod`)).catch(() => []);
  assertEquals(left.map((e) => e.name), [], "the next run removed the killed run's folders");
  const check = await workflowClone(bare, `${tmp}/fail/check`);
  assertEquals(await git(check, "rev-parse", "HEAD"), await git(dir, "rev-parse", "HEAD"), "pushed");
});

Deno.test("a clone without backups: --storage is refused before anything is written", async () => {
  await setup();
  const bare = await central(`${tmp}/storage`);
  const dir = await workflowClone(bare, `${tmp}/storage/clone`);
  const r = await runCli([
    ...backupArgs(dir, "5555555"),
    "--storage",
    "--storage-endpoint",
    "http://127.0.0.1:9/storage/v1/s3",
    "--storage-region",
    "local",
    "--storage-access-key-id",
    "k",
    "--storage-secret-access-key",
    "s",
  ], TOOLS);
  assertEquals(r.code, 2, out(r));
  ok(r.stderr.includes("the clone holds no backups"), r.stderr);
  assertEquals(await workTree(dir), ["README.md"]);
});

Deno.test("gitonly: stop the cluster", async () => {
  await cluster?.stop();
  if (tmp) await Deno.remove(tmp, { recursive: true });
});
