import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import {
  backupName,
  backupNameTime,
  blobHash,
  blobKey,
  compareBackupNames,
  dumpTimeRange,
  indexOf,
  lockStale,
  manifestKey,
  parseLockKey,
  reuseUnchanged,
  storedManifestText,
  unreferencedBlobs,
} from "../../../lib/store/remotelayout.ts";
import { partSizeFor, prefixedKey, unquoteEtag } from "../../../lib/store/s3store.ts";
import { completeMultipartXml } from "../../../lib/store/s3.ts";
import type { Manifest, ManifestFile } from "../../../lib/store/manifest.ts";

const H = (c: string) => c.repeat(64);

Deno.test("blob and manifest keys", () => {
  assertEquals(blobKey(H("a")), `blobs/aa/${H("a")}`);
  assertEquals(blobHash(`blobs/aa/${H("a")}`), H("a"));
  assertEquals(blobHash(`blobs/ab/${H("a")}`), undefined);
  assertEquals(blobHash("blobs/aa/short"), undefined);
  const k = manifestKey({
    createdAt: "2026-01-02T03:04:05.000Z",
    source: { repo: "o/r", event: "push", sha: "abcdef123" },
  }, "0badcafe");
  assertEquals(k, "backups/2026-01-02T03-04-05Z--o-r--push--abcdef1--000-0badcafe.json");
  assertEquals(backupName(k), "2026-01-02T03-04-05Z--o-r--push--abcdef1--000-0badcafe");
  assertEquals(backupName("backups/x/y.json"), undefined);
});

Deno.test("backups of one second are ordered by their milliseconds, whatever their source or suffix", () => {
  const name = (createdAt: string, repo: string, suffix: string) =>
    backupName(manifestKey({ createdAt, source: { repo, event: "push", sha: "abc" } }, suffix))!;
  const older = name("2026-01-02T03:04:05.900Z", "z/late-in-the-alphabet", "ffffffff");
  const newer = name("2026-01-02T03:04:05.950Z", "a/early", "00000000");
  const next = name("2026-01-02T03:04:06.001Z", "a/early", "00000000");
  assertEquals(older, "2026-01-02T03-04-05Z--z-late-in-the-alphabet--push--abc--900-ffffffff");
  assertEquals(backupNameTime(older), Date.parse("2026-01-02T03:04:05.900Z"));
  // a name of an earlier version (no milliseconds) counts as .000 of its second
  const old = "2026-01-02T03-04-05Z--o-r--push--abc--0badcafe";
  assertEquals(backupNameTime(old), Date.parse("2026-01-02T03:04:05Z"));
  assertEquals(backupNameTime("hand-made"), undefined);
  // racing runs in one millisecond: by name (their suffix), the same order for every reader
  const twin = name("2026-01-02T03:04:05.950Z", "a/early", "00000001");
  const sorted = [next, twin, newer, "hand-made", old, older].sort(compareBackupNames);
  assertEquals(sorted, ["hand-made", old, older, newer, twin, next]);
});

Deno.test("the store index rides in the manifest object and reads back", () => {
  const text = storedManifestText('{"format": 1}\n', { recipients: H("r"), dumps: { public: H("d") } });
  assertEquals(JSON.parse(text).format, 1);
  assertEquals(indexOf(text), { recipients: H("r"), dumps: { public: H("d") } });
  assertEquals(indexOf("{}"), { dumps: {} });
  assertEquals(indexOf("not json"), { dumps: {} });
});

Deno.test("dumpTimeRange finds pg_dump's creation time in a custom-format head (1.14 and 1.16)", () => {
  const head = (minor: number) =>
    new Uint8Array(
      [..."PGDMP"].map((c) => c.charCodeAt(0)).concat([1, minor, 0, 4, 8, 1], new Array(60).fill(0)),
    );
  assertEquals(dumpTimeRange(head(16)), [12, 12 + 35]);
  assertEquals(dumpTimeRange(head(14)), [16, 16 + 35]);
  assertEquals(dumpTimeRange(new TextEncoder().encode("-- plain SQL, not an archive")), undefined);
  assertEquals(dumpTimeRange(head(16).subarray(0, 30)), undefined);
});

function manifest(files: Record<string, ManifestFile>, dump: string): Manifest {
  return {
    createdAt: "2026-01-01T00:00:00Z",
    source: { repo: "r", event: "e", sha: "s" },
    schemas: [{ name: "public", dump, dumpBytes: 10, tables: [] }],
    files,
  } as unknown as Manifest;
}

Deno.test("reuseUnchanged takes the previous entry of unchanged encoded files and of a dump differing only in time", () => {
  const enc = (sha: string, stored: string): ManifestFile => ({
    bytes: 10,
    sha256: H(sha),
    encrypted: true,
    stored: { bytes: 99, sha256: H(stored) },
  });
  const prev = manifest(
    { "t/data.sql.age": enc("1", "a"), "public/p_1.dump.age": enc("2", "b") },
    "public/p_1.dump.age",
  );
  const now = manifest(
    { "t/data.sql.age": enc("1", "c"), "public/p_2.dump.age": enc("3", "d") },
    "public/p_2.dump.age",
  );
  const present = new Set([blobKey(H("a")), blobKey(H("b"))]);
  const idx = { recipients: H("r"), dumps: { public: H("t") } };
  const r = reuseUnchanged(now, idx, { manifest: prev, index: idx }, present);
  assertEquals(r.reused.sort(), ["public/p_2.dump.age", "t/data.sql.age"]);
  assertEquals(r.manifest.files["t/data.sql.age"].stored?.sha256, H("a"));
  assertEquals(r.manifest.files["public/p_2.dump.age"].sha256, H("2"));
  // other recipients, another dump, or a blob no longer in the store: nothing is reused
  assertEquals(
    reuseUnchanged(now, { ...idx, recipients: H("x") }, { manifest: prev, index: idx }, present).reused,
    [],
  );
  assertEquals(
    reuseUnchanged(now, { ...idx, dumps: { public: H("u") } }, { manifest: prev, index: idx }, present)
      .reused,
    ["t/data.sql.age"],
  );
  assertEquals(reuseUnchanged(now, idx, { manifest: prev, index: idx }, new Set()).reused, []);
  assertEquals(reuseUnchanged(now, idx, undefined, present).manifest, now);
});

Deno.test("reuseUnchanged: a dump in parts differing only in time takes every previous part", () => {
  const f = (sha: string, bytes = 10): ManifestFile => ({ bytes, sha256: H(sha) });
  const parted = (files: Record<string, ManifestFile>, parts: string[]): Manifest => {
    const m = manifest(files, parts[0]);
    m.schemas[0].dumpParts = parts;
    return m;
  };
  const prev = parted(
    { "public/p_1.dump.001": f("1"), "public/p_1.dump.002": f("2", 4) },
    ["public/p_1.dump.001", "public/p_1.dump.002"],
  );
  // The first part holds pg_dump's time, so its bytes differ; the second is the same content.
  const now = parted(
    { "public/p_2.dump.001": f("9"), "public/p_2.dump.002": f("2", 4) },
    ["public/p_2.dump.001", "public/p_2.dump.002"],
  );
  const present = new Set([blobKey(H("1")), blobKey(H("2"))]);
  const idx = { dumps: { public: H("t") } };
  const r = reuseUnchanged(now, idx, { manifest: prev, index: idx }, present);
  assertEquals(r.reused, ["public/p_2.dump.001"]);
  assertEquals(r.manifest.files["public/p_2.dump.001"].sha256, H("1"));
  assertEquals(r.manifest.files["public/p_2.dump.002"].sha256, H("2"));
  // Cut another way (another count or other sizes), or another dump: nothing of it is taken.
  const three = parted(
    { "public/p_2.dump.001": f("9"), "public/p_2.dump.002": f("2", 2), "public/p_2.dump.003": f("3", 2) },
    ["public/p_2.dump.001", "public/p_2.dump.002", "public/p_2.dump.003"],
  );
  assertEquals(reuseUnchanged(three, idx, { manifest: prev, index: idx }, present).reused, []);
  const sizes = parted(
    { "public/p_2.dump.001": f("9", 11), "public/p_2.dump.002": f("2", 3) },
    ["public/p_2.dump.001", "public/p_2.dump.002"],
  );
  assertEquals(reuseUnchanged(sizes, idx, { manifest: prev, index: idx }, present).reused, []);
  assertEquals(
    reuseUnchanged(now, { dumps: { public: H("u") } }, { manifest: prev, index: idx }, present).reused,
    [],
  );
});

Deno.test("locks: keys, staleness by the store's clock", () => {
  assertEquals(parseLockKey("locks/prune-0123456789abcdef.json"), { kind: "prune", id: "0123456789abcdef" });
  assertEquals(parseLockKey("locks/other.json"), undefined);
  const now = new Date("2026-01-01T01:00:00Z");
  ok(lockStale(new Date("2026-01-01T00:29:00Z"), now));
  ok(!lockStale(new Date("2026-01-01T00:31:00Z"), now));
  ok(!lockStale(undefined, now));
});

Deno.test("unreferencedBlobs keeps every blob a manifest names, and all of them when one is unreadable", () => {
  const m = manifest({
    a: { bytes: 1, sha256: H("1") },
    b: { bytes: 1, sha256: H("2"), stored: { bytes: 2, sha256: H("3") } },
  }, "a");
  const blobs = [blobKey(H("1")), blobKey(H("2")), blobKey(H("3")), blobKey(H("4")), "blobs/junk"];
  assertEquals(unreferencedBlobs(blobs, [m], 0), [blobKey(H("2")), blobKey(H("4"))]);
  assertEquals(unreferencedBlobs(blobs, [m], 1), []);
});

Deno.test("S3 store helpers: part sizes, ETags, prefixes, the completion body", () => {
  assertEquals(partSizeFor(100 << 20), 8 << 20);
  assertEquals(partSizeFor(1 << 20, 1), 5 << 20);
  assertEquals(partSizeFor(400_000 * 2 ** 20), Math.ceil((400_000 * 2 ** 20) / 10000));
  assertEquals(unquoteEtag('"abc"'), "abc");
  assertEquals(unquoteEtag('W/"abc"'), "abc");
  assertEquals(prefixedKey("", "k"), "k");
  assertEquals(prefixedKey("p/q", "k"), "p/q/k");
  assertEquals(
    completeMultipartXml(['"e1"', '"e2"']),
    "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&#34;e1&#34;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&#34;e2&#34;</ETag></Part></CompleteMultipartUpload>",
  );
});
