import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { fileDifference, scratchBuckets, scratchMap } from "../../../lib/storage/drill.ts";
import { MAP_FORMAT, type MapObject, type StorageMap } from "../../../lib/storage/map.ts";

const file: MapObject = {
  bucket: "pics",
  name: "a/b c.png",
  size: 3,
  etag: '"00000000000000000000000000000001"',
  contentType: "image/png",
  cacheControl: "max-age=60",
  userMetadata: { source: "camera", nested: { x: 1 } },
  owner: null,
  ownerId: null,
  sha256: "a".repeat(64),
};
const MAP: StorageMap = {
  format: MAP_FORMAT,
  buckets: [
    {
      id: "pics",
      name: "pics",
      public: true,
      fileSizeLimit: 10,
      allowedMimeTypes: ["image/png"],
      owner: null,
      ownerId: null,
    },
    {
      id: "docs",
      name: "docs",
      public: false,
      fileSizeLimit: null,
      allowedMimeTypes: null,
      owner: null,
      ownerId: null,
    },
  ],
  objects: [file, { ...file, bucket: "docs", name: "d" }],
};

Deno.test("scratchBuckets and scratchMap: private drill-<tag>-<n> buckets, the same names inside", () => {
  const names = scratchBuckets(MAP, "0a1b2c3d");
  assertEquals([...names], [["pics", "drill-0a1b2c3d-1"], ["docs", "drill-0a1b2c3d-2"]]);
  throws(() => scratchBuckets(MAP, "../x"));
  const s = scratchMap(MAP, names);
  assertEquals(s.buckets.map((b) => [b.id, b.public, b.fileSizeLimit, b.allowedMimeTypes]), [
    ["drill-0a1b2c3d-1", false, null, null],
    ["drill-0a1b2c3d-2", false, null, null],
  ]);
  assertEquals(s.objects.map((o) => [o.bucket, o.name, o.sha256]), [
    ["drill-0a1b2c3d-1", "a/b c.png", file.sha256],
    ["drill-0a1b2c3d-2", "d", file.sha256],
  ]);
});

Deno.test("fileDifference compares bytes, content type, cache control and plain-text user metadata", () => {
  const head = {
    etag: file.etag,
    size: 3,
    contentType: "image/png",
    cacheControl: "max-age=60",
    metadata: { source: "camera" },
  };
  const same = { head, sha256: file.sha256, bytes: 3 };
  assertEquals(fileDifference(file, same), undefined);
  ok(/^other bytes: 3 bytes, sha256 b+ /.test(fileDifference(file, { ...same, sha256: "b".repeat(64) })!));
  ok(/^other bytes: 4 bytes/.test(fileDifference(file, { ...same, bytes: 4 })!));
  assertEquals(
    fileDifference(file, { ...same, head: { ...head, contentType: "text/plain" } }),
    "content type text/plain (backed up: image/png)",
  );
  assertEquals(
    fileDifference(file, { ...same, head: { ...head, cacheControl: undefined } }),
    "cache control none (backed up: max-age=60)",
  );
  assertEquals(
    fileDifference(file, { ...same, head: { ...head, metadata: {} } }),
    'user metadata source: null (backed up: "camera")',
  );
  // what the backup does not say is not compared
  const bare = { ...file, contentType: null, cacheControl: null, userMetadata: null };
  assertEquals(
    fileDifference(bare, { ...same, head: { etag: "", size: 3, metadata: { extra: "1" } } }),
    undefined,
  );
});
