import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { join } from "node:path";
import { StoreLock, sweepBlobs } from "../../../lib/storage/gc.ts";
import { STORE_LOCK } from "../../../lib/store/staging.ts";

Deno.test("StoreLock: a sweep runs only while no other run holds the store", async () => {
  const root = await Deno.makeTempDir({ prefix: "store-lock-" });
  try {
    const a = await StoreLock.share(root);
    const b = await StoreLock.share(root);
    const alone = await StoreLock.unheld(root);
    let ran = 0;
    const sweep = () => Promise.resolve(++ran);
    assertEquals(await alone.sweeping(sweep), undefined, "two runs hold it");
    assertEquals(await a.sweeping(sweep), undefined, "the other run holds it");
    b.release();
    assertEquals(await a.sweeping(sweep), 1, "the only run holding it sweeps");
    assertEquals(await alone.sweeping(sweep), undefined, "after its sweep the run holds it shared again");
    a.release();
    assertEquals(await alone.sweeping(sweep), 2);
    assertEquals(await alone.sweeping(sweep), 3, "a sweep outside a run does not keep it");
    alone.release();
    ok((await Deno.stat(join(root, STORE_LOCK))).isFile, "the lock file stays");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("sweepBlobs removes unreferenced blobs at once, unless a backup holds the store", async () => {
  const root = await Deno.makeTempDir({ prefix: "store-sweep-" });
  try {
    const name = "ab".padEnd(64, "0");
    const blob = join(root, "storage", "blobs", "ab", name);
    await Deno.mkdir(join(root, "storage", "blobs", "ab"), { recursive: true });
    await Deno.writeTextFile(blob, "x");
    const running = await StoreLock.share(root);
    const kept = await sweepBlobs(root);
    assertEquals(kept.files, 0);
    ok(/another backup of this root is running/.test(kept.skipped ?? ""), kept.skipped);
    ok((await Deno.stat(blob)).isFile);
    running.release();
    assertEquals(await sweepBlobs(root), { files: 1, bytes: 1 });
    assertEquals(await Deno.stat(blob).then(() => true, () => false), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
