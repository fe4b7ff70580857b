import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import {
  formatStorageRestorePlan,
  metadataHeaders,
  planStorageRestore,
} from "../../../lib/storage/restore.ts";
import { MAP_FORMAT, type MapObject, objectKey, type StorageMap } from "../../../lib/storage/map.ts";
import { decodeXml } from "../../../lib/store/s3.ts";
import { BackupError } from "../../../lib/base/errors.ts";

const o = (bucket: string, name: string, etag: string, size: number): MapObject => ({
  bucket,
  name,
  size,
  etag,
  contentType: null,
  cacheControl: null,
  userMetadata: null,
  owner: null,
  ownerId: null,
  sha256: "a".repeat(64),
});
const bucket = (id: string, pub = false) => ({
  id,
  name: id,
  public: pub,
  fileSizeLimit: null,
  allowedMimeTypes: null,
  owner: null,
  ownerId: null,
});
const MAP: StorageMap = {
  format: MAP_FORMAT,
  buckets: [bucket("docs"), bucket("pics", true)],
  objects: [
    o("docs", "new", '"00000000000000000000000000000001"', 10),
    o("docs", "same", '"00000000000000000000000000000002"', 20),
    o("docs", "other", '"00000000000000000000000000000003"', 30),
    o("pics", "p", '"00000000000000000000000000000004"', 40),
  ],
};
const TARGET = {
  buckets: new Set(["docs"]),
  objects: new Map([
    [objectKey("docs", "same"), { etag: '"00000000000000000000000000000002"', size: 20 }],
    [objectKey("docs", "other"), { etag: '"ffffffffffffffffffffffffffffffff"', size: 30 }],
  ]),
};

Deno.test("planStorageRestore: create missing buckets, upload missing files, leave the rest unless --clean", () => {
  const none = { include: [], exclude: [] };
  const p = planStorageRestore(MAP, none, TARGET, { clean: false });
  assertEquals(p.buckets.map((b) => [b.bucket.id, b.action]), [["docs", "exists"], ["pics", "create"]]);
  assertEquals(p.files.map((f) => [f.object.name, f.action]), [["new", "upload"], ["same", "keep"], [
    "other",
    "differs",
  ], [
    "p",
    "upload",
  ]]);
  assertEquals(p.bytes, 50);
  const clean = planStorageRestore(MAP, none, TARGET, { clean: true });
  assertEquals(clean.files.find((f) => f.object.name === "other")?.action, "replace");
  assertEquals(clean.bytes, 80);
  const onlyPics = planStorageRestore(MAP, { include: ["pics"], exclude: [] }, TARGET, { clean: false });
  assertEquals(onlyPics.files.map((f) => f.object.name), ["p"]);
  throws(
    () => planStorageRestore(MAP, { include: ["nope"], exclude: [] }, TARGET, { clean: false }),
    (e: BackupError) => e.exitCode === 2 && /--bucket 'nope' is not in this backup/.test(e.message),
  );
  const text = formatStorageRestorePlan(p, "https://t/s3");
  ok(text.includes("bucket pics: create (public), 1 file(s)"), text);
  ok(text.includes("left alone: docs/other"), text);
});

Deno.test("metadataHeaders sends plain-text values and says when some need the database", () => {
  assertEquals(metadataHeaders({ a: "x", "b-c": "y z" }), {
    headers: { a: "x", "b-c": "y z" },
    complete: true,
  });
  assertEquals(metadataHeaders({ a: "x", n: 1, "Bad Key": "v", u: "é" }), {
    headers: { a: "x" },
    complete: false,
  });
  assertEquals(metadataHeaders(null), { headers: {}, complete: true });
  assertEquals(metadataHeaders([1]), { headers: {}, complete: false });
});

Deno.test("decodeXml decodes named and numeric entities", () => {
  assertEquals(decodeXml("a&amp;b&lt;&#39;&#x41;&quot;"), `a&b<'A"`);
});
