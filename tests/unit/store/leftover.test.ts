/**
 * Leftovers of dead runs (lib/store/leftover.ts) on real temp directories and a real `git init`:
 * which folders are taken over, what is put back, what is garbage, what a live run keeps, and what
 * `list` shows. The owner of a "dead" run is a lock file nobody holds, as kill -9 leaves it.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createHash } from "node:crypto";
import $ from "dax";
import {
  claimLeftovers,
  findLeftovers,
  installRecovered,
  removeGarbage,
} from "../../../lib/store/leftover.ts";
import { readListing } from "../../../lib/store/listing.ts";
import type { Manifest } from "../../../lib/store/manifest.ts";
import { parseStagingName, StagingOwner } from "../../../lib/store/staging.ts";

const DEAD = "dead00000001";

/** Writes a backup with one data file into `dir`; `complete: false` leaves the data file out. */
async function backupIn(
  dir: string,
  createdAt: string,
  opts: { complete?: boolean; environment?: string } = {},
): Promise<void> {
  await Deno.mkdir(`${dir}/public`, { recursive: true });
  const data = `-- ${createdAt}\n`;
  if (opts.complete !== false) await Deno.writeTextFile(`${dir}/public/data.sql`, data);
  const m: Manifest = {
    format: 1,
    createdAt,
    tool: "supabase-backup test",
    source: { repo: "acme/shop", event: "push", sha: "abcdef1" },
    ...(opts.environment ? { environment: opts.environment } : {}),
    database: { name: "postgres", serverVersion: "17.4", sizeBytes: 0, host: "localhost" },
    pgDumpVersion: "17.4",
    snapshot: { consistent: true },
    status: "ok",
    roles: null,
    schemas: [],
    skipped: [],
    files: {
      "public/data.sql": {
        bytes: data.length,
        sha256: createHash("sha256").update(data).digest("hex"),
      },
    },
    durationMs: 1,
  };
  await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(m));
}

/** A lock file as a killed run leaves it: present, held by nobody. */
const deadLock = (root: string, id = DEAD) => Deno.writeTextFile(`${root}/.staging-${id}.lock`, "{}\n");

const createdAt = async (dir: string) =>
  JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)).createdAt;

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("claimLeftovers: dead runs' complete backups come back, the rest is garbage, live runs keep theirs", async () => {
  const root = await Deno.makeTempDir({ prefix: "leftover-" });
  try {
    await Deno.mkdir(`${root}/archive`);
    await deadLock(root);
    await backupIn(`${root}/.staging-${DEAD}`, "2025-05-02T00:00:00Z");
    await backupIn(`${root}/.staging-${DEAD}-new-0000aaaa`, "2025-05-03T00:00:00Z", { complete: false });
    await backupIn(`${root}/.staging-Ab12cd`, "2025-05-01T00:00:00Z"); // an earlier version's name
    await Deno.mkdir(`${root}/.staging-prune-1a2b3c4d`);
    const live = await StagingOwner.open(root);
    await backupIn(await live.createDir(), "2025-05-04T00:00:00Z");

    const me = await StagingOwner.open(root);
    const logged: string[] = [];
    const claimed = await claimLeftovers(me, { log: (l) => logged.push(l) });
    assertEquals(claimed.recovered.map((r) => r.manifest.createdAt), [
      "2025-05-01T00:00:00Z",
      "2025-05-02T00:00:00Z",
    ]);
    for (const r of claimed.recovered) assertEquals(parseStagingName(r.dir.split("/").pop()!)?.owner, me.id);
    assertEquals(claimed.restored, undefined);
    assertEquals(claimed.garbage.length, 3, claimed.garbage.join("\n")); // lock, prune trash, incomplete
    assert(claimed.garbage.includes(`${root}/.staging-${DEAD}.lock`));

    const where = await installRecovered(me, claimed, { archive: true, log: (l) => logged.push(l) });
    assertEquals(where[0], "latest");
    assertEquals(where[1], "latest");
    assertEquals(await createdAt(`${root}/latest`), "2025-05-02T00:00:00Z");
    const [archived] = await names(`${root}/archive`);
    assertEquals(await createdAt(`${root}/archive/${archived}`), "2025-05-01T00:00:00Z");
    assertEquals(
      logged.filter((l) => l.startsWith("recovered a complete backup")).length,
      2,
      logged.join("\n"),
    );

    await removeGarbage(claimed.garbage);
    // The live run's folder and lock, and mine, are all that is left besides latest/ and archive/.
    assertEquals(
      await names(root),
      ["archive", "latest", `.staging-${live.id}`, `.staging-${live.id}.lock`, `.staging-${me.id}.lock`]
        .sort(),
    );
    live.releaseSync();
    me.releaseSync();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("claimLeftovers: a --no-archive crash (latest set aside, new one not in) gives latest back", async () => {
  const root = await Deno.makeTempDir({ prefix: "leftover-noarchive-" });
  try {
    await deadLock(root);
    await backupIn(`${root}/.staging-${DEAD}-old-0000bbbb`, "2025-05-01T00:00:00Z");
    await backupIn(`${root}/.staging-${DEAD}`, "2025-05-02T00:00:00Z");
    const me = await StagingOwner.open(root);
    const claimed = await claimLeftovers(me);
    // latest/ is back before anything else happens: a run that fails now still leaves a backup
    assertEquals(await createdAt(`${root}/latest`), "2025-05-01T00:00:00Z");
    assertEquals(claimed.restored?.createdAt, "2025-05-01T00:00:00Z");
    assertEquals(claimed.recovered.map((r) => r.manifest.createdAt), ["2025-05-02T00:00:00Z"]);
    await installRecovered(me, claimed, { archive: false });
    assertEquals(await createdAt(`${root}/latest`), "2025-05-02T00:00:00Z");
    assertEquals(await names(`${root}/archive`), []);
    await removeGarbage(claimed.garbage);
    me.releaseSync();
    assertEquals(await names(root), ["archive", "latest"]);

    // With latest/ in place, a set-aside latest is garbage; an older recovered backup is dropped
    // with --no-archive.
    await deadLock(root);
    await backupIn(`${root}/.staging-${DEAD}-old-0000cccc`, "2025-04-01T00:00:00Z");
    await backupIn(`${root}/.staging-${DEAD}`, "2025-04-02T00:00:00Z");
    const again = await StagingOwner.open(root);
    const second = await claimLeftovers(again);
    assertEquals(second.restored, undefined);
    assertEquals(await installRecovered(again, second, { archive: false }), [undefined]);
    await removeGarbage(second.garbage);
    again.releaseSync();
    assertEquals(await names(root), ["archive", "latest"]);
    assertEquals(await createdAt(`${root}/latest`), "2025-05-02T00:00:00Z");
    assertEquals(await names(`${root}/archive`), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("race holders in .git: listed and taken by the root they name (earlier ones by environment)", async () => {
  const top = await Deno.makeTempDir({ prefix: "leftover-git-" });
  try {
    await $`git init --quiet ${top}`;
    const root = `${top}/backups/prod`;
    await Deno.mkdir(`${root}/archive`, { recursive: true });
    const holder = `${top}/.git/supabase-backup`;
    await deadLock(root);
    await backupIn(`${holder}/race-${DEAD}-0000dddd`, "2025-05-02T00:00:00Z");
    await Deno.writeTextFile(`${holder}/race-${DEAD}-0000dddd.root`, "backups/prod\n");
    await backupIn(`${holder}/race-${DEAD}-0000eeee`, "2025-05-02T00:00:00Z");
    await Deno.writeTextFile(`${holder}/race-${DEAD}-0000eeee.root`, "backups/dev\n");
    await backupIn(`${holder}/race-1a2b3c4d`, "2025-05-01T00:00:00Z", { environment: "prod" });
    await backupIn(`${holder}/race-5e6f7a8b`, "2025-05-01T00:00:00Z", { environment: "dev" });

    const listed = await readListing(root, "prod");
    assertEquals(listed.map((e) => e.label), ["leftover:race-1a2b3c4d", `leftover:race-${DEAD}-0000dddd`]);
    for (const e of listed) {
      assert(/push race.*the next backup puts it in place/.test(e.leftover ?? ""), e.leftover);
    }

    const me = await StagingOwner.open(root);
    const claimed = await claimLeftovers(me, { environment: "prod" });
    assertEquals(claimed.recovered.map((r) => r.manifest.createdAt), [
      "2025-05-01T00:00:00Z",
      "2025-05-02T00:00:00Z",
    ]);
    // the other root's holders stay, with their root files; this root's are gone
    assertEquals(await names(holder), [
      "race-5e6f7a8b",
      `race-${DEAD}-0000eeee`,
      `race-${DEAD}-0000eeee.root`,
    ]);
    assertEquals((await readListing(root, "prod")).filter((e) => e.leftover), []);
    me.releaseSync();
    // once this run is gone, what it took is a leftover again (for the next run)
    assertEquals((await findLeftovers(root, "prod")).dirs.map((d) => d.kind), ["new", "new"]);
  } finally {
    await Deno.remove(top, { recursive: true });
  }
});

Deno.test("removeGarbage never removes a lock that a live run holds", async () => {
  const root = await Deno.makeTempDir({ prefix: "leftover-lock-" });
  try {
    const live = await StagingOwner.open(root);
    await deadLock(root);
    await removeGarbage([`${root}/.staging-${live.id}.lock`, `${root}/.staging-${DEAD}.lock`]);
    assertEquals(await names(root), [`.staging-${live.id}.lock`]);
    live.releaseSync();
    assertEquals(await names(root), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
