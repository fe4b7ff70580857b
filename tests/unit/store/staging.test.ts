/**
 * hashFile across block boundaries, checkStaging's verdicts on a staging directory, staging names
 * and the owner lock (a real child process killed with SIGKILL; no database).
 */
import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { BackupError } from "../../../lib/base/errors.ts";
import type { Manifest } from "../../../lib/store/manifest.ts";
import { BUFFER, hashFile } from "../../../lib/store/sink.ts";
import {
  checkStaging,
  ownerAlive,
  parseStagingName,
  StagingOwner,
  STORE_LOCK,
} from "../../../lib/store/staging.ts";
import { REPO } from "../../support/paths.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255;
  return b;
}

/** A staging directory with `files` written and a manifest listing them in that order. */
async function staged(files: [string, Uint8Array][]): Promise<{ dir: string; m: Manifest }> {
  const dir = await Deno.makeTempDir({ prefix: "staging-test-" });
  const listed: Manifest["files"] = {};
  for (const [rel, b] of files) {
    await Deno.mkdir(dirname(`${dir}/${rel}`), { recursive: true });
    await Deno.writeFile(`${dir}/${rel}`, b);
    listed[rel] = { bytes: b.length, sha256: sha(b) };
  }
  await Deno.writeTextFile(`${dir}/manifest.json`, "{}");
  return { dir, m: { files: listed } as Manifest };
}

const failsWith = (p: Promise<void>, message: string) =>
  rejects(p, (e: unknown) => e instanceof BackupError && (assertEquals(e.message, message), true));

Deno.test("hashFile: size and SHA-256 at and around the block size, empty included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "staging-test-" });
  try {
    const reused = new Uint8Array(BUFFER);
    for (const n of [0, 1, BUFFER - 1, BUFFER, BUFFER + 1, 3 * BUFFER + 7]) {
      const b = bytes(n, n);
      await Deno.writeFile(`${dir}/f`, b);
      assertEquals(await hashFile(`${dir}/f`), { bytes: n, sha256: sha(b) });
      assertEquals(await hashFile(`${dir}/f`, reused), { bytes: n, sha256: sha(b) });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkStaging: names the first bad file in manifest order, even when a later one fails first", async () => {
  // a is large (its check ends last), b and c are small; all three are bad.
  const { dir, m } = await staged([
    ["s/a.dump", bytes(6 * BUFFER, 1)],
    ["s/tables/b/schema.sql", bytes(10, 2)],
    ["s/tables/c/schema.sql", bytes(10, 3)],
    ["s/tables/d/data.sql", bytes(BUFFER + 5, 4)],
  ]);
  try {
    await checkStaging(dir, m);
    for (const rel of ["s/a.dump", "s/tables/b/schema.sql", "s/tables/c/schema.sql"]) {
      await Deno.writeFile(`${dir}/${rel}`, new Uint8Array([1]), { append: true });
    }
    await failsWith(checkStaging(dir, m), "backup check failed: s/a.dump does not match what was written");
    await Deno.remove(`${dir}/s/tables/d/data.sql`);
    await failsWith(checkStaging(dir, m), "backup check failed: s/a.dump does not match what was written");
    m.files["s/a.dump"] = await hashFile(`${dir}/s/a.dump`);
    await failsWith(
      checkStaging(dir, m),
      "backup check failed: s/tables/b/schema.sql does not match what was written",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkStaging: a missing file, then a file the manifest does not list", async () => {
  const { dir, m } = await staged([["a.sql", bytes(100, 1)], ["b.sql", bytes(100, 2)]]);
  try {
    await Deno.remove(`${dir}/b.sql`);
    await failsWith(checkStaging(dir, m), "backup check failed: b.sql is missing");
    delete m.files["b.sql"];
    await Deno.mkdir(`${dir}/x`);
    await Deno.writeFile(`${dir}/x/extra.sql`, new Uint8Array(1));
    await failsWith(checkStaging(dir, m), "backup check failed: unexpected file x/extra.sql");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkStaging: a tree with a symlink gets the careful check, which refuses the link", async () => {
  const { dir, m } = await staged([["s/tables/a/schema.sql", bytes(10, 1)], [
    "s/tables/b/data.sql",
    bytes(10, 2),
  ]]);
  const outside = await Deno.makeTempDir({ prefix: "staging-test-outside-" });
  try {
    await checkStaging(dir, m);
    // the same bytes behind a symlinked folder: size and checksum match, the path does not
    await Deno.rename(`${dir}/s/tables/b`, `${outside}/b`);
    await Deno.symlink(`${outside}/b`, `${dir}/s/tables/b`);
    await failsWith(
      checkStaging(dir, m),
      'the manifest names a file outside the backup: "s/tables/b/data.sql" goes through a symlink',
    );
    // a symlink the manifest does not list is still an unexpected file
    await Deno.remove(`${dir}/s/tables/b`);
    await Deno.rename(`${outside}/b`, `${dir}/s/tables/b`);
    await Deno.symlink(`${dir}/s/tables/a/schema.sql`, `${dir}/s/tables/a/link.sql`);
    await failsWith(checkStaging(dir, m), "backup check failed: unexpected file s/tables/a/link.sql");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("parseStagingName: owned folders and locks, names of earlier versions, anything else", () => {
  const id = "0123456789ab";
  assertEquals(parseStagingName(`.staging-${id}`), { owner: id, kind: "new" });
  assertEquals(parseStagingName(`.staging-${id}-new-89abcdef`), { owner: id, kind: "new" });
  assertEquals(parseStagingName(`.staging-${id}-old-89abcdef`), { owner: id, kind: "old" });
  assertEquals(parseStagingName(`.staging-${id}-trash-89abcdef`), { owner: id, kind: "trash" });
  assertEquals(parseStagingName(`.staging-${id}-blobs-89abcdef`), { owner: id, kind: "trash" });
  assertEquals(parseStagingName(`.staging-${id}.lock`), { owner: id, kind: "lock" });
  // earlier versions: no owner
  assertEquals(parseStagingName(".staging-old-1a2b3c4d"), { kind: "old" });
  assertEquals(parseStagingName(".staging-Xy12ab"), { kind: "new" });
  assertEquals(parseStagingName(".staging-prune-1a2b3c4d"), { kind: "trash" });
  assertEquals(parseStagingName(`.staging-${id}-odd`), { kind: "trash" });
  assertEquals(parseStagingName("latest"), undefined);
  assertEquals(parseStagingName(".stagingX"), undefined);
  // the blob store's lock belongs to no run: never a leftover
  assertEquals(parseStagingName(STORE_LOCK), undefined);
  assertEquals(parseStagingName(".staging-blobs.lock"), undefined);
});

Deno.test("StagingOwner: a lock held while the run lives, its folders named after it", async () => {
  const root = await Deno.makeTempDir({ prefix: "owner-test-" });
  try {
    const owner = await StagingOwner.open(`${root}/new/root`);
    const lock = `${root}/new/root/.staging-${owner.id}.lock`;
    assertEquals((await Deno.stat(lock)).mode! & 0o777, 0o600);
    assertEquals(JSON.parse(await Deno.readTextFile(lock)).pid, Deno.pid);
    const dir = await owner.createDir();
    assertEquals(dir, `${root}/new/root/.staging-${owner.id}`);
    assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
    for (const kind of ["new", "old", "trash"] as const) {
      assertEquals(parseStagingName(owner.path(kind).split("/").pop()!), { owner: owner.id, kind });
    }
    // this process holds it (the check opens the file again: flock is per open file)
    assertEquals(await ownerAlive(owner.root, owner.id), true);
    owner.releaseSync();
    owner.releaseSync(); // twice is fine
    assertEquals(await ownerAlive(owner.root, owner.id), false);
    assertEquals(await ownerAlive(owner.root, undefined), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("StagingOwner: the lock of a process killed with SIGKILL is free at once", async () => {
  const root = await Deno.makeTempDir({ prefix: "owner-kill-" });
  const script = `${root}/hold.ts`;
  await Deno.writeTextFile(
    script,
    `import { StagingOwner } from "${REPO}/lib/store/staging.ts";
const o = await StagingOwner.open(${JSON.stringify(`${root}/r`)});
await o.createDir();
console.log(o.id);
setInterval(() => {}, 1000);
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", "--config", `${REPO}/deno.json`, script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    const id = new TextDecoder().decode(value).trim();
    assertEquals(/^[0-9a-f]{12}$/.test(id), true, id);
    assertEquals(await ownerAlive(`${root}/r`, id), true, "alive while the process runs");
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    // the lock file and the folder are still there, but nobody holds the lock
    assertEquals((await Deno.stat(`${root}/r/.staging-${id}.lock`)).isFile, true);
    assertEquals((await Deno.stat(`${root}/r/.staging-${id}`)).isDirectory, true);
    assertEquals(await ownerAlive(`${root}/r`, id), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
