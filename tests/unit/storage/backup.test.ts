import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { compareMaps, etagMd5, knownBlobs, planFiles, previousOfMap } from "../../../lib/storage/backup.ts";
import type { ObjectRow } from "../../../lib/storage/catalog.ts";
import type { MapObject } from "../../../lib/storage/map.ts";

const row = (name: string, etag: string, size: number): ObjectRow => ({
  bucket: "b",
  name,
  size,
  etag,
  contentType: null,
  cacheControl: null,
  userMetadata: null,
  owner: null,
  ownerId: null,
});
const entry = (name: string, etag: string, size: number, sha: string): MapObject => ({
  ...row(name, etag, size),
  sha256: sha.repeat(64),
});

Deno.test("planFiles reuses a file only when ETag and size match and its blob is there", () => {
  const prev = [
    entry("same", '"e1"', 1, "a"),
    entry("etag", '"e2"', 2, "b"),
    entry("size", '"e3"', 3, "c"),
    entry("gone", '"e4"', 4, "d"),
  ];
  const rows = [
    row("same", '"e1"', 1),
    row("etag", '"x2"', 2),
    row("size", '"e3"', 30),
    row("gone", '"e4"', 4),
    row("new", '"e5"', 5),
  ];
  const plan = planFiles(rows, previousOfMap(prev), (b) => b.sha256 !== "d".repeat(64));
  assertEquals(plan.reuse.map((r) => r.row.name), ["same"]);
  assertEquals(plan.fetch.map((r) => r.name), ["etag", "size", "gone", "new"]);
  assertEquals(planFiles(rows, [], () => true).fetch.length, 5);
});

Deno.test("compareMaps counts added, changed, removed and unchanged files", () => {
  const prev = [entry("a", "", 1, "a"), entry("b", "", 1, "b"), entry("c", "", 1, "c")];
  const cur = [entry("a", "", 1, "a"), entry("b", "", 1, "f"), entry("d", "", 1, "d")];
  assertEquals(compareMaps(previousOfMap(prev), cur), { added: 1, changed: 1, removed: 1, unchanged: 1 });
});

Deno.test("planFiles reuses an encrypted file by its blob, which its presence is asked about", () => {
  const stored = { sha256: "e".repeat(64), bytes: 200 };
  const prev = previousOfMap([{ ...entry("same", '"e1"', 1, "a"), parts: 2, stored }]);
  const asked: unknown[] = [];
  const plan = planFiles([row("same", '"e1"', 1)], prev, (b) => {
    asked.push(b);
    return true;
  });
  assertEquals(asked, [{ sha256: "e".repeat(64), size: 200, parts: 2 }]);
  assertEquals(plan.reuse[0].from.stored, stored);
  assertEquals(plan.reuse[0].from.sha256, "a".repeat(64));
});

Deno.test("etagMd5 reads a plain MD5 ETag, not a multipart one", () => {
  assertEquals(etagMd5('"900150983CD24FB0D6963F7D28E17F72"'), "900150983cd24fb0d6963f7d28e17f72");
  assertEquals(etagMd5('"900150983cd24fb0d6963f7d28e17f72-3"'), undefined);
});

Deno.test("knownBlobs: an encrypted content's blob from the reused files, the previous backup (if present), this run", async () => {
  const enc = (name: string, plain: string, blob: string) => ({
    ...entry(name, '"e"', 1, plain),
    stored: { sha256: blob.repeat(64), bytes: 200 },
  });
  const prev = previousOfMap([enc("kept", "a", "1"), enc("renamed-from", "b", "2"), enc("gone", "c", "3")]);
  const plan = planFiles([row("kept", '"e"', 1)], prev, () => true);
  const asked: string[] = [];
  const known = knownBlobs(prev, plan, (b) => {
    asked.push(b.sha256[0]);
    return Promise.resolve(b.sha256 !== "3".repeat(64));
  });
  assertEquals((await known.get("a".repeat(64)))?.stored.sha256, "1".repeat(64));
  assertEquals((await known.get("b".repeat(64)))?.stored.sha256, "2".repeat(64));
  assertEquals(await known.get("c".repeat(64)), undefined, "a blob no longer in the store is not taken");
  assertEquals(await known.get("d".repeat(64)), undefined);
  known.set("d".repeat(64), { stored: { sha256: "4".repeat(64), bytes: 9 }, parts: 2 });
  assertEquals(await known.get("d".repeat(64)), { stored: { sha256: "4".repeat(64), bytes: 9 }, parts: 2 });
  assertEquals(asked, ["2", "3"], "the reused file's blob is known present; others are asked once");
});
