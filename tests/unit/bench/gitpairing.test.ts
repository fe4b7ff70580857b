/** How bench/git.ts classifies the storage of a backup's changed data.sql files in a pack. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { pairings } from "../../../bench/git.ts";

Deno.test("pairings: own version either way, another file's, or whole", () => {
  const packed = new Map<string, { bytes: number; base?: string }>([
    // a: the new one is a delta against its previous version
    ["a1", { bytes: 140, base: "a0" }],
    ["a0", { bytes: 70_000 }],
    // b: git kept the new one whole and made the previous one a delta of it: the delta counts
    ["b1", { bytes: 71_000 }],
    ["b0", { bytes: 150, base: "b1" }],
    // c: a delta against another table's file
    ["c1", { bytes: 7_000, base: "a1" }],
    ["c0", { bytes: 69_000 }],
    // d: stored whole, and so is its previous version
    ["d1", { bytes: 68_000 }],
    ["d0", { bytes: 68_100 }],
  ]);
  const pairs = ["a", "b", "c", "d", "e"].map((t) => ({ oid: `${t}1`, previous: `${t}0` }));
  assertEquals(pairings(packed, pairs), {
    own: { files: 2, bytes: 290 },
    other: { files: 1, bytes: 7_000 },
    whole: { files: 1, bytes: 68_000 },
  });
});
