import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { blobFiles, partCount, partSize } from "../../../lib/storage/blobs.ts";

const sha = "4a".padEnd(64, "0");

Deno.test("blobFiles: one file, or parts whose names carry the count", () => {
  assertEquals(blobFiles({ sha256: sha }), [`4a/${sha}`]);
  assertEquals(blobFiles({ sha256: sha, parts: 3 }), [
    `4a/${sha}.001of003`,
    `4a/${sha}.002of003`,
    `4a/${sha}.003of003`,
  ]);
  throws(() => blobFiles({ sha256: "../../etc/passwd" }), /not a sha256/);
});

Deno.test("partCount and partSize cut a file in equal parts under the limit", () => {
  assertEquals([partCount(0, 10), partCount(10, 10), partCount(11, 10), partCount(100, 10)], [1, 1, 2, 10]);
  const size = 5 * 1024 * 1024 + 17, max = 2_000_000, n = partCount(size, max);
  const sizes = Array.from({ length: n }, (_, i) => partSize(size, n, i));
  assertEquals(sizes.reduce((a, b) => a + b, 0), size);
  assertEquals(sizes.every((s) => s <= max && s > 0), true);
});
