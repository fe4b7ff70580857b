/**
 * Archive naming (pure) and the rotation of latest/ into archive/ (on a real temp directory).
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
import {
  archiveName,
  backupRoot,
  fallbackArchiveName,
  installBackup,
  timeFromArchiveName,
  uniqueName,
} from "../../../lib/store/rotation.ts";
import { BackupError } from "../../../lib/base/errors.ts";
import type { Manifest } from "../../../lib/store/manifest.ts";
import { parseStagingName, StagingOwner } from "../../../lib/store/staging.ts";

function manifest(createdAt: string, repo = "acme/shop", event = "push", sha = "abcdef1234567"): Manifest {
  return {
    format: 1,
    createdAt,
    tool: "supabase-backup test",
    source: { repo, event, sha },
    database: { name: "postgres", serverVersion: "17.4", sizeBytes: 0, host: "localhost" },
    pgDumpVersion: "17.4",
    snapshot: { consistent: true },
    status: "ok",
    roles: null,
    schemas: [],
    skipped: [],
    files: {},
    durationMs: 1,
  };
}

/** The run owning each test root's staging folders (its lock is released with the process). */
const owners = new Map<string, StagingOwner>();
async function ownerOf(root: string): Promise<StagingOwner> {
  if (!owners.has(root)) owners.set(root, await StagingOwner.open(root));
  return owners.get(root)!;
}

async function stage(root: string, m: Manifest): Promise<string> {
  const dir = (await ownerOf(root)).path("new");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(m));
  await Deno.writeTextFile(`${dir}/data.txt`, m.createdAt);
  return dir;
}

async function entries(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (parseStagingName(e.name)?.kind !== "lock") out.push(e.name);
  return out.sort();
}

const createdAtOf = async (dir: string) =>
  (JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)) as Manifest).createdAt;

Deno.test("archiveName: timestamp, owner-repo, event, sha7 from the manifest", () => {
  assertEquals(
    archiveName(manifest("2025-03-04T05:06:07.890Z")),
    "2025-03-04T05-06-07Z--acme-shop--push--abcdef1",
  );
  assertEquals(
    archiveName(manifest("2025-03-04T07:06:07+02:00", "local", "my host.lan", "0000000")),
    "2025-03-04T05-06-07Z--local--my-host.lan--0000000",
  );
  assertEquals(
    archiveName(manifest("2025-12-31T23:59:59Z", "Org/Ré:po", "workflow_dispatch", "12")),
    "2025-12-31T23-59-59Z--Org-R--po--workflow_dispatch--12",
  );
  assertEquals(
    archiveName(manifest("2025-01-01T00:00:00Z", "", "", "")),
    "2025-01-01T00-00-00Z--unknown--unknown--0000000",
  );
});

Deno.test("archiveName: an invalid createdAt is a BackupError", () => {
  let err: unknown;
  try {
    archiveName(manifest("yesterday"));
  } catch (e) {
    err = e;
  }
  assert(err instanceof BackupError && err.message.includes("yesterday"));
});

Deno.test("fallbackArchiveName and timeFromArchiveName", () => {
  const t = new Date("2024-02-29T12:00:01Z");
  const name = fallbackArchiveName(t);
  assertEquals(name, "2024-02-29T12-00-01Z--unknown--unknown--0000000");
  assertEquals(timeFromArchiveName(name)?.toISOString(), "2024-02-29T12:00:01.000Z");
  assertEquals(timeFromArchiveName(`${name}-2`)?.toISOString(), "2024-02-29T12:00:01.000Z");
  assertEquals(timeFromArchiveName("notes"), undefined);
});

Deno.test("uniqueName adds -2, -3, … on collision", () => {
  assertEquals(uniqueName("a", []), "a");
  assertEquals(uniqueName("a", ["a"]), "a-2");
  assertEquals(uniqueName("a", ["a", "a-2", "a-3"]), "a-4");
  assertEquals(uniqueName("a", new Set(["a-2"])), "a");
});

Deno.test("backupRoot: out or out/env; bad env names are usage errors", () => {
  assertEquals(backupRoot("backups"), "backups");
  assertEquals(backupRoot("backups", "prod"), "backups/prod");
  for (const bad of ["../x", "a/b", ".hidden", "with space"]) {
    let err: unknown;
    try {
      backupRoot("backups", bad);
    } catch (e) {
      err = e;
    }
    assert(err instanceof BackupError && err.exitCode === 2 && err.message.includes("--env"), bad);
  }
});

Deno.test("installBackup: first, then rotation, then a collision gets a suffix", async () => {
  const root = await Deno.makeTempDir();
  try {
    const a = await stage(root, manifest("2025-01-01T00:00:00Z"));
    assertEquals(await installBackup(root, a, { owner: await ownerOf(root), archive: true }), {
      placedAt: "latest",
    });
    assertEquals(await entries(root), ["archive", "latest"]);
    assertEquals((await Deno.stat(`${root}/archive`)).mode! & 0o777, 0o700);

    const b = await stage(root, manifest("2025-01-02T00:00:00Z"));
    const r2 = await installBackup(root, b, { owner: await ownerOf(root), archive: true });
    assertEquals(r2, {
      placedAt: "latest",
      archivedPrevious: "archive/2025-01-01T00-00-00Z--acme-shop--push--abcdef1",
    });
    assertEquals(await createdAtOf(`${root}/latest`), "2025-01-02T00:00:00Z");
    assertEquals(await createdAtOf(`${root}/${r2.archivedPrevious}`), "2025-01-01T00:00:00Z");

    // A second backup with the same time and source as the one now in latest/.
    const c = await stage(root, manifest("2025-01-02T00:00:00Z"));
    const d = await stage(root, manifest("2025-01-02T00:00:00Z"));
    await installBackup(root, c, { owner: await ownerOf(root), archive: true });
    const r4 = await installBackup(root, d, { owner: await ownerOf(root), archive: true });
    assertEquals(r4.archivedPrevious, "archive/2025-01-02T00-00-00Z--acme-shop--push--abcdef1-2");
    assertEquals(await entries(`${root}/archive`), [
      "2025-01-01T00-00-00Z--acme-shop--push--abcdef1",
      "2025-01-02T00-00-00Z--acme-shop--push--abcdef1",
      "2025-01-02T00-00-00Z--acme-shop--push--abcdef1-2",
    ]);
    // No staging or temp directories are left behind.
    assertEquals(await entries(root), ["archive", "latest"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("installBackup: after a push race (keepNewer) a newer latest stays; the staged one is archived", async () => {
  const root = await Deno.makeTempDir();
  try {
    await installBackup(root, await stage(root, manifest("2025-06-01T10:00:00Z", "acme/new")), {
      owner: await ownerOf(root),
      archive: true,
    });
    const older = await stage(root, manifest("2025-06-01T09:00:00Z", "acme/old", "schedule", "1234567"));
    const r = await installBackup(root, older, {
      owner: await ownerOf(root),
      archive: true,
      keepNewer: true,
    });
    assertEquals(r, { placedAt: "archive/2025-06-01T09-00-00Z--acme-old--schedule--1234567" });
    assertEquals(await createdAtOf(`${root}/latest`), "2025-06-01T10:00:00Z");
    // Even with archive: false the older backup is kept, in archive/.
    const older2 = await stage(root, manifest("2025-06-01T08:00:00Z", "acme/old"));
    const r2 = await installBackup(root, older2, {
      owner: await ownerOf(root),
      archive: false,
      keepNewer: true,
    });
    assert(r2.placedAt.startsWith("archive/2025-06-01T08-00-00Z--acme-old"));
    assertEquals(await entries(root), ["archive", "latest"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("installBackup: the staged backup becomes latest whatever the old manifest says", async () => {
  const root = await Deno.makeTempDir();
  const now = new Date("2025-06-01T12:00:00Z");
  try {
    // A latest dated in the future (clock skew): replaced, and archived by its folder's time.
    await installBackup(root, await stage(root, manifest("2030-01-01T00:00:00Z", "acme/skew")), {
      owner: await ownerOf(root),
      archive: true,
    });
    const mtime = new Date("2025-06-01T11:00:00Z");
    await Deno.utime(`${root}/latest`, mtime, mtime);
    const logged: string[] = [];
    const log = (l: string) => logged.push(l);
    const r = await installBackup(root, await stage(root, manifest("2025-06-01T11:30:00Z")), {
      owner: await ownerOf(root),
      archive: true,
      log,
      now,
    });
    assertEquals(r, {
      placedAt: "latest",
      archivedPrevious: "archive/2025-06-01T11-00-00Z--acme-skew--push--abcdef1",
    });
    assertEquals(await createdAtOf(`${root}/latest`), "2025-06-01T11:30:00Z");
    assertEquals(await createdAtOf(`${root}/${r.archivedPrevious}`), "2030-01-01T00:00:00Z");
    assert(/createdAt "2030-01-01T00:00:00Z" is in the future/.test(logged.join("\n")), logged.join("\n"));
    // Nor does a future latest win after a push race.
    await installBackup(root, await stage(root, manifest("2030-01-01T00:00:00Z", "acme/skew")), {
      owner: await ownerOf(root),
      archive: true,
      now,
    });
    const r2 = await installBackup(root, await stage(root, manifest("2025-06-01T11:45:00Z")), {
      owner: await ownerOf(root),
      archive: true,
      keepNewer: true,
      now,
    });
    assertEquals(r2.placedAt, "latest");
    assertEquals(await createdAtOf(`${root}/latest`), "2025-06-01T11:45:00Z");

    // A field of the wrong type: archived under a name from its folder's time, with a warning.
    const odd = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`));
    odd.source.repo = 5;
    await Deno.writeTextFile(`${root}/latest/manifest.json`, JSON.stringify(odd));
    await Deno.utime(`${root}/latest`, mtime, mtime);
    logged.length = 0;
    const r3 = await installBackup(root, await stage(root, manifest("2025-06-01T11:50:00Z")), {
      owner: await ownerOf(root),
      archive: true,
      log,
      now,
    });
    assertEquals(r3.archivedPrevious, "archive/2025-06-01T11-00-00Z--unknown--unknown--0000000");
    assertEquals(JSON.parse(await Deno.readTextFile(`${root}/${r3.archivedPrevious}/manifest.json`)), odd);
    assert(/manifest field source\.repo must be a string/.test(logged.join("\n")), logged.join("\n"));
    assertEquals(await createdAtOf(`${root}/latest`), "2025-06-01T11:50:00Z");
    assertEquals(await entries(root), ["archive", "latest"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("installBackup: archive: false replaces latest and archives nothing", async () => {
  const root = await Deno.makeTempDir();
  try {
    await installBackup(root, await stage(root, manifest("2025-01-01T00:00:00Z")), {
      owner: await ownerOf(root),
      archive: false,
    });
    const r = await installBackup(root, await stage(root, manifest("2025-01-02T00:00:00Z")), {
      owner: await ownerOf(root),
      archive: false,
    });
    assertEquals(r, { placedAt: "latest" });
    assertEquals(await createdAtOf(`${root}/latest`), "2025-01-02T00:00:00Z");
    assertEquals(await entries(`${root}/archive`), []);
    assertEquals(await entries(root), ["archive", "latest"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("installBackup: a latest without a manifest is archived by its mtime, event unknown", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/latest`);
    await Deno.writeTextFile(`${root}/latest/stray.txt`, "x");
    const mtime = new Date("2023-05-06T07:08:09Z");
    await Deno.utime(`${root}/latest`, mtime, mtime);
    const r = await installBackup(root, await stage(root, manifest("2025-01-01T00:00:00Z")), {
      owner: await ownerOf(root),
      archive: true,
    });
    assertEquals(r.archivedPrevious, "archive/2023-05-06T07-08-09Z--unknown--unknown--0000000");
    assertEquals(await Deno.readTextFile(`${root}/${r.archivedPrevious}/stray.txt`), "x");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("installBackup: a staged dir without manifest is refused and nothing moves", async () => {
  const root = await Deno.makeTempDir();
  try {
    await installBackup(root, await stage(root, manifest("2025-01-01T00:00:00Z")), {
      owner: await ownerOf(root),
      archive: true,
    });
    const empty = (await ownerOf(root)).path("new");
    await Deno.mkdir(empty);
    await assertRejects(
      installBackup(root, empty, { owner: await ownerOf(root), archive: true }),
      BackupError,
    );
    assertEquals(await createdAtOf(`${root}/latest`), "2025-01-01T00:00:00Z");
    assertEquals(await entries(`${root}/archive`), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
