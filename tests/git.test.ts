/**
 * Publishing backups with real git: a bare "central" repository, five clones pushing at once.
 * Nothing is mocked; git must be installed (the test fails otherwise).
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import $ from "dax";
import { archiveName } from "../lib/store/rotation.ts";
import { StagingOwner } from "../lib/store/staging.ts";
import { BackupError } from "../lib/base/errors.ts";
import {
  classifyPushError,
  commitMessage,
  commitShortfall,
  maskGitOutput,
  publishToGit,
} from "../lib/store/git.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { pruneRoot } from "../lib/store/prune.ts";
import { clearSecrets, registerSecret } from "../lib/base/redact.ts";

// Isolate from the host's git configuration: no global identity, no system config.
Deno.env.set("GIT_CONFIG_GLOBAL", "/dev/null");
Deno.env.set("GIT_CONFIG_NOSYSTEM", "1");

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

async function gitIn(dir: string, ...args: string[]): Promise<string> {
  return (await $`git -C ${dir} ${args}`.stdout("piped").stderr("piped")).stdout.trim();
}

/** A bare central repo (branch main, one initial commit) in a new temp dir. */
async function central(): Promise<{ tmp: string; bare: string }> {
  const tmp = await Deno.makeTempDir({ prefix: "sb-git-" });
  const bare = `${tmp}/central.git`;
  await $`git -c init.defaultBranch=main init --quiet --bare ${bare}`;
  await gitIn(bare, "config", "uploadpack.allowFilter", "true"); // for blobless clones
  const seed = `${tmp}/seed`;
  await $`git -c init.defaultBranch=main clone --quiet ${bare} ${seed}`.stderr("piped");
  await Deno.writeTextFile(`${seed}/README.md`, "# backups\n");
  await gitIn(seed, "add", "README.md");
  await gitIn(seed, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-qm", "init");
  await gitIn(seed, "push", "-q", "origin", "HEAD:refs/heads/main");
  return { tmp, bare };
}

async function clone(bare: string, dir: string): Promise<string> {
  await $`git clone --quiet ${bare} ${dir}`.stderr("piped");
  return dir;
}

/**
 * A blobless, sparse clone as the central workflow makes it: everything but the archives
 * (`'/*' '!/backups/archive/'`), blobs fetched only for what is checked out.
 */
async function sparseClone(bare: string, dir: string): Promise<string> {
  await $`git clone --quiet --filter=blob:none --no-checkout file://${bare} ${dir}`.stderr("piped");
  await gitIn(dir, "sparse-checkout", "set", "--no-cone", "/*", "!/backups/archive/");
  await gitIn(dir, "checkout", "--quiet", "main");
  return dir;
}

/**
 * A clone that holds no backups, as the central workflow makes it (`--depth 1 --filter=blob:none`,
 * `'/*' '!/backups/'`): every backup is kept in git only.
 */
async function bareClone(bare: string, dir: string): Promise<string> {
  await $`git clone --quiet --depth 1 --filter=blob:none --no-checkout file://${bare} ${dir}`.stderr("piped");
  await gitIn(dir, "sparse-checkout", "set", "--no-cone", "/*", "!/backups/");
  await gitIn(dir, "checkout", "--quiet", "main");
  return dir;
}

/** The run owning each root's staging folders in these tests. */
const owners = new Map<string, StagingOwner>();
async function ownerOf(root: string): Promise<StagingOwner> {
  if (!owners.has(root)) owners.set(root, await StagingOwner.open(root));
  return owners.get(root)!;
}

/** A synthetic backup staged in `<root>/.staging-*`: manifest with checksums and two files. */
async function stageBackup(root: string, createdAt: string, repo: string, sha: string): Promise<Manifest> {
  const dir = (await ownerOf(root)).path("new");
  await Deno.mkdir(dir, { recursive: true });
  const files: Manifest["files"] = {};
  const put = async (path: string, text: string) => {
    await Deno.mkdir(`${dir}/${path.split("/").slice(0, -1).join("/") || "."}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, text, { mode: 0o600 });
    files[path] = { bytes: new TextEncoder().encode(text).length, sha256: sha256(text) };
  };
  await put("roles.sql", `-- roles of ${repo}\n`);
  await put("public/items/data.sql", `COPY public.items (id) FROM stdin;\n1\n2\n\\.\n-- ${createdAt}\n`);
  const m: Manifest = {
    format: 1,
    createdAt,
    tool: "supabase-backup test",
    source: { repo, event: "push", sha },
    database: { name: "postgres", serverVersion: "17.4", sizeBytes: 0, host: "localhost" },
    pgDumpVersion: "17.4",
    snapshot: { consistent: true },
    status: "ok",
    roles: "roles.sql",
    schemas: [{
      name: "public",
      dump: "public/schema.dump",
      dumpBytes: 0,
      tables: [{ name: "items", rows: 2, schemaFile: "", dataFiles: ["public/items/data.sql"], bytes: 0 }],
    }],
    skipped: [],
    files,
    durationMs: 5,
  };
  await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(m, null, 2), { mode: 0o600 });
  return Object.assign(m, { dir });
}

/** Publishes the staged backup `m` of `<dir>/backups` with --push. */
function pushBackup(dir: string, m: Manifest, afterInstall?: () => Promise<void>) {
  return publishToGit({
    root: `${dir}/backups`,
    stagedDir: (m as Manifest & { dir: string }).dir,
    owner: owners.get(`${dir}/backups`)!,
    archive: true,
    push: true,
    message: commitMessage({ source: m.source, status: "ok", tables: 1 }),
    log: () => {},
    afterInstall,
  });
}

async function checksumsHold(dir: string): Promise<Manifest> {
  const m: Manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
  assert(Object.keys(m.files).length === 2, `files listed in ${dir}`);
  for (const [path, f] of Object.entries(m.files)) {
    const data = await Deno.readFile(`${dir}/${path}`);
    assertEquals(data.length, f.bytes, `${dir}/${path} size`);
    assertEquals(sha256(data), f.sha256, `${dir}/${path} checksum`);
  }
  return m;
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

for (
  const [mode, cloneOf] of [["full", clone], ["sparse, blobless", sparseClone], [
    "shallow, blobless, without backups,",
    bareClone,
  ]] as const
) {
  Deno.test(`publishToGit: five ${mode} clones push at once; every backup survives, newest is latest`, async () => {
    const { tmp, bare } = await central();
    try {
      const times = [
        "2025-05-01T10:00:03Z",
        "2025-05-01T10:00:05Z", // newest
        "2025-05-01T10:00:01Z",
        "2025-05-01T10:00:04Z",
        "2025-05-01T10:00:02Z",
      ];
      const clones = await Promise.all(times.map((_, i) => cloneOf(bare, `${tmp}/clone${i}`)));
      const staged = await Promise.all(
        times.map((t, i) =>
          stageBackup(`${clones[i]}/backups`, t, `acme/app${i}`, `${i}${"abcdef0123456789".slice(i)}`)
        ),
      );
      const results = await Promise.all(staged.map((m, i) =>
        publishToGit({
          root: `${clones[i]}/backups`,
          stagedDir: (m as Manifest & { dir: string }).dir,
          owner: owners.get(`${clones[i]}/backups`)!,
          archive: true,
          push: true,
          message: commitMessage({ env: "prod", source: m.source, status: m.status, tables: 1 }),
          identity: { name: "supabase-backup[bot]", email: "supabase-backup@users.noreply.github.com" },
          log: () => {},
        })
      ));
      // They all started from the same commit, so only one first push can win: four retried.
      const attempts = results.reduce((n, r) => n + r.attempts, 0);
      assert(attempts >= 9, `at least four runs retried (attempts: ${results.map((r) => r.attempts)})`);
      for (const r of results) assert(/^[0-9a-f]{40}$/.test(r.commit));

      const check = await clone(bare, `${tmp}/check`);
      const latest = await checksumsHold(`${check}/backups/latest`);
      assertEquals(latest.createdAt, "2025-05-01T10:00:05Z");
      const expectedArchives = staged.filter((m) => m.createdAt !== latest.createdAt).map((m) =>
        archiveName(m)
      )
        .sort();
      assertEquals(await names(`${check}/backups/archive`), expectedArchives);
      for (const n of expectedArchives) await checksumsHold(`${check}/backups/archive/${n}`);
      assertEquals(await names(`${check}/backups`), ["archive", "latest"]);

      const log = (await gitIn(check, "log", "--format=%s|%an")).split("\n");
      assertEquals(log.length, 6, log.join("\n"));
      assertEquals(log.at(-1), "init|seed");
      const backupCommits = log.slice(0, 5).map((l) => l.split("|"));
      for (const [subject, author] of backupCommits) {
        assert(/^backup\(prod\): ok, 1 table from acme\/app\d push@[0-9a-f]{7}$/.test(subject), subject);
        assertEquals(author, "supabase-backup[bot]");
      }
      assertEquals(new Set(backupCommits.map(([s]) => s)).size, 5);

      // Each clone ends clean: no staging dirs, no backups left aside in .git, no uncommitted change.
      for (const c of clones) {
        owners.get(`${c}/backups`)!.releaseSync();
        assertEquals((await names(`${c}/backups`)).filter((n) => n.startsWith(".")), []);
        assertEquals(await names(`${c}/.git/supabase-backup`), []);
        assertEquals(await gitIn(c, "status", "--porcelain"), "");
        // a sparse clone never holds an archive's files
        if (cloneOf === sparseClone) assertEquals(await names(`${c}/backups/archive`), []);
        // one without backups holds nothing of them at all
        if (cloneOf === bareClone) assertEquals(await names(`${c}/backups`), []);
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}

for (
  const [mode, cloneOf] of [["full", clone], ["sparse", sparseClone], ["without backups", bareClone]] as const
) {
  Deno.test(`publishToGit after a lost race redoes rotation and afterInstall (prune) on the remote head (${mode})`, async () => {
    const { tmp, bare } = await central();
    try {
      const a = await cloneOf(bare, `${tmp}/a`);
      const b = await cloneOf(bare, `${tmp}/b`); // cloned before a pushes: b's first push must lose
      const ma = await stageBackup(`${a}/backups`, "2025-05-01T01:00:00Z", "acme/a", "aaaaaaa");
      const mb = await stageBackup(`${b}/backups`, "2025-05-01T02:00:00Z", "acme/b", "bbbbbbb");
      const mc = await stageBackup(`${a}/backups`, "2025-05-01T03:00:00Z", "acme/c", "ccccccc");
      const publish = pushBackup;
      assertEquals((await publish(a, ma)).attempts, 1);
      assertEquals((await publish(a, mc)).attempts, 1); // central: latest c, archive [a]
      const pruned: number[] = [];
      const rb = await publish(b, mb, async () => {
        const d = await pruneRoot(`${b}/backups`, { keepLast: 1 }, { dryRun: false, now: new Date() });
        pruned.push(d.filter((x) => !x.keep).length);
      });
      assertEquals(rb.attempts, 2);
      // b is older than the remote latest (c): it goes to archive, c stays latest.
      assertEquals(rb.placedAt, `archive/${archiveName(mb)}`);
      assertEquals(pruned, [0, 1]); // first on b's stale tree (nothing to prune), then on the remote head
      const check = await clone(bare, `${tmp}/check`);
      assertEquals((await checksumsHold(`${check}/backups/latest`)).createdAt, "2025-05-01T03:00:00Z");
      assertEquals(await names(`${check}/backups/archive`), [archiveName(mb)]);
      await checksumsHold(`${check}/backups/archive/${archiveName(mb)}`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}

Deno.test("publishToGit in a clone without backups: --no-archive replaces latest/ in git only", async () => {
  const { tmp, bare } = await central();
  try {
    const c = await bareClone(bare, `${tmp}/work`);
    const publish = async (m: Manifest, archive: boolean) =>
      await publishToGit({
        root: `${c}/backups`,
        stagedDir: (m as Manifest & { dir: string }).dir,
        owner: await ownerOf(`${c}/backups`),
        archive,
        push: false,
        message: commitMessage({ source: m.source, status: "ok", tables: 1 }),
        log: () => {},
      });
    const first = await stageBackup(`${c}/backups`, "2025-05-02T00:00:00Z", "local", "1111111");
    assertEquals((await publish(first, false)).placedAt, "latest");
    const second = await stageBackup(`${c}/backups`, "2025-05-03T00:00:00Z", "local", "2222222");
    const r = await publish(second, false);
    assertEquals([r.placedAt, r.archivedPrevious, r.inGitOnly], ["latest", undefined, true]);
    assertEquals(await gitIn(c, "ls-tree", "--name-only", "HEAD:backups"), "latest");
    const latest = JSON.parse(await gitIn(c, "show", "HEAD:backups/latest/manifest.json"));
    assertEquals(latest.createdAt, "2025-05-03T00:00:00Z");
    // what the index holds is the commit, all of it skip-worktree, and nothing is on disk
    assertEquals(await gitIn(c, "diff", "--cached", "--name-only", "HEAD"), "");
    assert((await gitIn(c, "ls-files", "-t", "backups")).split("\n").every((l) => l.startsWith("S ")));
    assertEquals((await names(`${c}/backups`)).filter((n) => !n.startsWith(".staging-")), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("publishToGit without push commits only the backup root, never staging dirs", async () => {
  const { tmp, bare } = await central();
  try {
    const c = await clone(bare, `${tmp}/work`);
    await gitIn(c, "config", "user.name", "Configured Person");
    await gitIn(c, "config", "user.email", "person@example.com");
    await Deno.writeTextFile(`${c}/unrelated.txt`, "not mine");
    const leftover = (await ownerOf(`${c}/backups`)).path("new");
    await Deno.mkdir(leftover, { recursive: true });
    await Deno.writeTextFile(`${leftover}/partial.sql`, "half");
    const m = await stageBackup(`${c}/backups`, "2025-05-02T00:00:00Z", "local", "0000000");
    const r = await publishToGit({
      root: `${c}/backups`,
      stagedDir: (m as Manifest & { dir: string }).dir,
      owner: owners.get(`${c}/backups`)!,
      archive: true,
      push: false,
      message: commitMessage({ source: m.source, status: "ok", tables: 1 }),
    });
    assertEquals(r.placedAt, "latest");
    assertEquals(r.attempts, 1);
    assertEquals(await gitIn(c, "rev-parse", "HEAD"), r.commit);
    const committed = (await gitIn(c, "show", "--name-only", "--format=%s|%an", "HEAD")).split("\n");
    assertEquals(committed[0], "backup: ok, 1 table from local push@0000000|Configured Person");
    assertEquals(committed.slice(1).filter(Boolean).sort(), [
      "backups/latest/manifest.json",
      "backups/latest/public/items/data.sql",
      "backups/latest/roles.sql",
    ]);
    // Not pushed: the central repo still has only the initial commit.
    assertEquals(await gitIn(bare, "log", "--format=%s", "main"), "init");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("publishToGit: a race never discards edits outside the root (refused before and during the run)", async () => {
  const { tmp, bare } = await central();
  try {
    const a = await clone(bare, `${tmp}/a`);
    const b = await clone(bare, `${tmp}/b`); // behind once a pushed
    await pushBackup(a, await stageBackup(`${a}/backups`, "2025-05-01T01:00:00Z", "acme/a", "aaaaaaa"));

    // Before anything is put in place: exit 2, the staged backup untouched.
    await Deno.writeTextFile(`${b}/README.md`, "# mine\n");
    const mb = await stageBackup(`${b}/backups`, "2025-05-01T02:00:00Z", "acme/b", "bbbbbbb");
    await assertRejects(pushBackup(b, mb), (e: unknown) => {
      assert(e instanceof BackupError && e.exitCode === 2, String(e));
      assert(/uncommitted changes outside the backup root: README\.md$/.test(e.message), e.message);
      return true;
    });
    await checksumsHold((mb as Manifest & { dir: string }).dir);
    const stagedName = (mb as Manifest & { dir: string }).dir.split("/").pop()!;
    const lock = `.staging-${owners.get(`${b}/backups`)!.id}.lock`;
    assertEquals(await names(`${b}/backups`), ["archive", lock, stagedName].sort(), "nothing put in place");

    // An edit made while the backup runs: the race is not redone over it.
    await gitIn(b, "checkout", "--", "README.md");
    await assertRejects(
      pushBackup(b, mb, async () => await Deno.writeTextFile(`${b}/README.md`, "# edited meanwhile\n")),
      (e: unknown) => {
        assert(e instanceof BackupError && e.exitCode === 1, String(e));
        assert(
          /lost a race.*would discard uncommitted changes outside the backup root: README\.md$/.test(
            e.message,
          ),
          e.message,
        );
        assert(/committed locally as [0-9a-f]{7} but not pushed/.test(e.hint ?? ""), e.hint);
        return true;
      },
    );
    assertEquals(await Deno.readTextFile(`${b}/README.md`), "# edited meanwhile\n");
    await checksumsHold(`${b}/backups/latest`); // committed locally, in place
    assertEquals(await gitIn(b, "log", "-1", "--format=%s"), "backup: ok, 1 table from acme/b push@bbbbbbb");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("publishToGit: a race never drops local commits that were not pushed", async () => {
  const { tmp, bare } = await central();
  try {
    const a = await clone(bare, `${tmp}/a`);
    const b = await clone(bare, `${tmp}/b`);
    await pushBackup(a, await stageBackup(`${a}/backups`, "2025-05-01T01:00:00Z", "acme/a", "aaaaaaa"));
    await Deno.writeTextFile(`${b}/notes.md`, "my work\n");
    await gitIn(b, "add", "notes.md");
    await gitIn(b, "-c", "user.name=me", "-c", "user.email=me@example.com", "commit", "-qm", "my work");
    const mine = await gitIn(b, "rev-parse", "HEAD");
    const mb = await stageBackup(`${b}/backups`, "2025-05-01T02:00:00Z", "acme/b", "bbbbbbb");
    await assertRejects(pushBackup(b, mb), (e: unknown) => {
      assert(e instanceof BackupError && e.exitCode === 1, String(e));
      assert(
        e.message.includes(`would drop local commits that were never pushed (up to ${mine.slice(0, 7)})`),
        e.message,
      );
      assert(/merge or rebase the local commits onto origin\/main/.test(e.hint ?? ""), e.hint);
      return true;
    });
    assertEquals(await gitIn(b, "rev-parse", "HEAD^"), mine);
    assertEquals(await Deno.readTextFile(`${b}/notes.md`), "my work\n");
    await checksumsHold(`${b}/backups/latest`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("publishToGit outside a git repository is a BackupError with a hint", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sb-nogit-" });
  try {
    const m = await stageBackup(`${tmp}/backups`, "2025-05-02T00:00:00Z", "local", "0000000");
    const err = await assertRejects(
      publishToGit({
        root: `${tmp}/backups`,
        stagedDir: (m as Manifest & { dir: string }).dir,
        owner: owners.get(`${tmp}/backups`)!,
        archive: true,
        push: false,
        message: "x",
      }),
      (e: unknown) => {
        assert(e instanceof BackupError);
        assert(e.message.includes("is not inside a git repository"), e.message);
        assert(e.hint?.includes("drop --commit"));
        return true;
      },
    );
    void err;
    // The staged backup was not touched.
    await checksumsHold((m as Manifest & { dir: string }).dir);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("publishToGit without git on PATH says git cannot be run, not 'not a repository'", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sb-nogitbin-" });
  const path = Deno.env.get("PATH")!;
  try {
    const m = await stageBackup(`${tmp}/backups`, "2025-05-02T00:00:00Z", "local", "0000000");
    Deno.env.set("PATH", tmp);
    await assertRejects(
      publishToGit({
        root: `${tmp}/backups`,
        stagedDir: (m as Manifest & { dir: string }).dir,
        owner: owners.get(`${tmp}/backups`)!,
        archive: true,
        push: false,
        message: "x",
      }),
      (e: unknown) => {
        assert(e instanceof BackupError);
        assertEquals(e.message, "cannot run git: git was not found");
        assertEquals(e.hint, "install git and make sure it is on PATH");
        return true;
      },
    );
  } finally {
    Deno.env.set("PATH", path);
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("commitShortfall: a file missing from the commit, or stored other than on disk (pure)", () => {
  const disk = new Map([["manifest.json", "m1"], ["a.sql", "a1"], ["b.dump", "b1"]]);
  const expected = ["manifest.json", "a.sql", "b.dump", "c.sql"];
  assertEquals(
    commitShortfall(expected, new Map([...disk, ["c.sql", "c1"]]), new Map([...disk, ["c.sql", "c1"]])),
    [],
  );
  assertEquals(
    commitShortfall(expected, new Map([["manifest.json", "m1"], ["a.sql", "a1"], ["b.dump", "bX"]]), disk),
    [
      "b.dump differs from the file on disk",
      "c.sql is missing",
    ],
  );
  assertEquals(commitShortfall(["x"], new Map([["x", ""]]), new Map()), ["x differs from the file on disk"]);
});

Deno.test("commitMessage, push error classes and masking (pure)", () => {
  assertEquals(
    commitMessage({
      env: "prod",
      source: { repo: "owner/repo", event: "push", sha: "abc1234def" },
      status: "ok",
      tables: 42,
    }),
    "backup(prod): ok, 42 tables from owner/repo push@abc1234",
  );
  assertEquals(
    commitMessage({ source: { repo: "local", event: "laptop", sha: "" }, status: "partial", tables: 1 }),
    "backup: partial, 1 table from local laptop@0000000",
  );
  assertEquals(
    classifyPushError(" ! [rejected]        main -> main (fetch first)\nerror: failed to push some refs"),
    "race",
  );
  assertEquals(classifyPushError("! [rejected] HEAD -> main (non-fast-forward)"), "race");
  assertEquals(classifyPushError("error: cannot lock ref 'refs/heads/main': is at 1 but expected 2"), "race");
  assertEquals(
    classifyPushError(
      "remote: Permission to o/r.git denied to github-actions[bot].\nfatal: unable to access 'https://github.com/o/r/': The requested URL returned error: 403",
    ),
    "permission",
  );
  assertEquals(classifyPushError("remote: error: GH006: Protected branch update failed"), "protected");
  assertEquals(classifyPushError("fatal: Could not resolve host: github.com"), "other");
  registerSecret("s3cr3t-token");
  try {
    assertEquals(
      maskGitOutput("fatal: unable to access 'https://x-access-token:ghs_abc@github.com/o/r/' s3cr3t-token"),
      "fatal: unable to access 'https://****@github.com/o/r/' ****",
    );
  } finally {
    clearSecrets();
  }
});

Deno.test("publishToGit: a previous latest whose manifest does not read is archived as it was, with a warning", async () => {
  const { tmp, bare } = await central();
  try {
    const a = await clone(bare, `${tmp}/a`);
    const first = await stageBackup(`${a}/backups`, "2025-05-02T00:00:00Z", "local", "1111111");
    await pushBackup(a, first);
    // damaged: the committed latest manifest cut in the middle, as a broken write leaves it
    const text = await Deno.readTextFile(`${a}/backups/latest/manifest.json`);
    const cut = text.slice(0, text.length >> 1);
    await Deno.writeTextFile(`${a}/backups/latest/manifest.json`, cut);
    await gitIn(a, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "damage");
    await gitIn(a, "push", "-q", "origin", "HEAD:refs/heads/main");
    const before = await gitIn(a, "rev-parse", "HEAD:backups/latest");
    for (const [kind, c] of [["a checkout", a], ["git only", await bareClone(bare, `${tmp}/b`)]] as const) {
      const root = `${c}/backups`;
      const lines: string[] = [];
      const m = await stageBackup(root, "2025-05-03T00:00:00Z", "local", "2222222");
      const r = await publishToGit({
        root,
        stagedDir: (m as Manifest & { dir: string }).dir,
        owner: await ownerOf(root),
        archive: true,
        push: false,
        message: commitMessage({ source: m.source, status: "ok", tables: 1 }),
        log: (l) => lines.push(l),
      });
      const warned = lines.filter((l) => l.startsWith("warning: "));
      assertEquals(warned.length, 1, `${kind}: ${lines.join("\n")}`);
      assert(
        /latest has no readable manifest \(.*(not valid JSON|cannot)/.test(warned[0]),
        `${kind}: ${warned[0]}`,
      );
      // nothing is lost: the damaged backup is the archive, byte for byte; the new one is latest
      assert(r.archivedPrevious?.startsWith("archive/"), `${kind}: ${r.archivedPrevious}`);
      assertEquals(await gitIn(c, "rev-parse", `HEAD:backups/${r.archivedPrevious}`), before, kind);
      const latest = JSON.parse(await gitIn(c, "show", "HEAD:backups/latest/manifest.json"));
      assertEquals(latest.createdAt, "2025-05-03T00:00:00Z", kind);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
