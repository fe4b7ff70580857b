import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { bucketFromRow, bucketSelected, objectFromRow } from "../../../lib/storage/catalog.ts";

Deno.test("objectFromRow keeps what a backup needs from any Storage version's row", () => {
  const row = {
    id: "1",
    bucket_id: "docs",
    name: "a/b.txt",
    owner: null,
    owner_id: "user-1",
    metadata: {
      eTag: '"abc"',
      size: 12,
      mimetype: "text/plain",
      cacheControl: "max-age=1",
      lastModified: "x",
    },
    user_metadata: { k: [1] },
    version: "v",
  };
  assertEquals(objectFromRow(row), {
    bucket: "docs",
    name: "a/b.txt",
    size: 12,
    etag: '"abc"',
    contentType: "text/plain",
    cacheControl: "max-age=1",
    userMetadata: { k: [1] },
    owner: null,
    ownerId: "user-1",
  });
  // an older project: no user_metadata, no owner_id, size as text
  assertEquals(objectFromRow({ bucket_id: "b", name: "n", metadata: { eTag: "e", size: "5" } })?.size, 5);
  assertEquals(
    objectFromRow({ bucket_id: "b", name: "n", metadata: { eTag: "e", size: 5 } })?.userMetadata,
    null,
  );
  // not current files
  assertEquals(objectFromRow({ ...row, is_delete_marker: true }), undefined);
  assertEquals(objectFromRow({ ...row, archived_at: "2026-01-01" }), undefined);
  assertEquals(objectFromRow({ ...row, metadata: null }), undefined);
});

Deno.test("bucketFromRow and the bucket selection", () => {
  assertEquals(
    bucketFromRow({
      id: "p",
      name: "p",
      public: true,
      file_size_limit: 1000,
      allowed_mime_types: ["image/png"],
      type: "STANDARD",
    }),
    {
      id: "p",
      name: "p",
      public: true,
      fileSizeLimit: 1000,
      allowedMimeTypes: ["image/png"],
      owner: null,
      ownerId: null,
    },
  );
  assertEquals(bucketSelected("a", { include: [], exclude: [] }), true);
  assertEquals(bucketSelected("a", { include: ["b"], exclude: [] }), false);
  assertEquals(bucketSelected("a", { include: [], exclude: ["a"] }), false);
});
