/** Row matching (real temporary files for the partitions): by key, whole rows, column changes. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { type DataSide, diffRows, partitionCount, type RowChange } from "../../../lib/history/rows.ts";

function side(label: string, columns: string[], rows: string[][]): DataSide {
  const text = `SET x = 0;\nCOPY public.t (${columns.join(", ")}) FROM stdin;\n${
    rows.map((r) => r.join("\t") + "\n").join("")
  }\\.\n`;
  const bytes = new TextEncoder().encode(text).length;
  return {
    files: rows.length || columns.length ? [{ rel: "t/data.sql" }] : [],
    bytes,
    label,
    open: () => Promise.resolve(new Blob([text]).stream()),
  };
}

async function run(a: DataSide, b: DataSide, key: string[] | undefined, partBytes?: number) {
  const tmpDir = await Deno.makeTempDir();
  const seen: string[] = [];
  try {
    const r = await diffRows(a, b, {
      key,
      tmpDir,
      partBytes,
      onChange: (c: RowChange) => {
        seen.push(`${c.kind} ${(c.from ?? c.to)![0]}`);
      },
    });
    assertEquals([...Deno.readDirSync(tmpDir)], [], "partition files are removed");
    return { r, seen: seen.sort() };
  } finally {
    await Deno.remove(tmpDir, { recursive: true });
  }
}

const many = (n: number, f: (i: number) => string[]) => Array.from({ length: n }, (_, i) => f(i));

Deno.test("diffRows by key: the same answer in memory and over many partitions", async () => {
  const a = side("a", ["id", "v"], many(500, (i) => [String(i), `v${i}`]));
  const bRows = many(500, (i) => [String(i), i % 50 === 0 ? `changed${i}` : `v${i}`]).filter((r) =>
    r[0] !== "7"
  );
  bRows.push(["1000", "new"]);
  const b = side("b", ["id", "v"], bRows);
  const inMemory = await run(a, b, ["id"]);
  const parted = await run(a, b, ["id"], 256);
  assertEquals(partitionCount(a.bytes, 256) > 10, true);
  for (const { r, seen } of [inMemory, parted]) {
    assertEquals([r.added, r.removed, r.changed, r.fromRows, r.toRows], [1, 1, 10, 500, 500]);
    assertEquals(r.key, ["id"]);
    assertEquals(seen.length, 12);
  }
  assertEquals(inMemory.seen, parted.seen);
});

Deno.test("diffRows without a key matches whole rows as a multiset", async () => {
  const a = side("a", ["body"], [["a"], ["b"], ["b"]]);
  const b = side("b", ["body"], [["b"], ["c"], ["b"], ["b"]]);
  for (const part of [undefined, 1]) {
    const { r, seen } = await run(a, b, undefined, part);
    assertEquals([r.added, r.removed, r.changed], [2, 1, 0]);
    assertEquals(seen, ["added b", "added c", "removed a"]);
  }
});

Deno.test("diffRows compares on shared columns (an added column is a schema change, not every row)", async () => {
  const a = side("a", ["id", "v"], [["1", "x"], ["2", "y"]]);
  const b = side("b", ["v", "id", "extra"], [["x", "1", "\\N"], ["z", "2", "\\N"]]);
  const { r, seen } = await run(a, b, ["id"]);
  assertEquals(r.compared, ["id", "v"]);
  assertEquals([r.added, r.removed, r.changed], [0, 0, 1]);
  assertEquals(seen, ["changed 2"]);
  // A key column the other side lacks: whole rows instead.
  const c = side("c", ["k", "v"], [["1", "x"]]);
  assertEquals((await run(a, c, ["id"])).r.key, []);
});

Deno.test("diffRows with one side missing lists every row as added or removed", async () => {
  const a = side("a", ["id"], [["1"], ["2"]]);
  const none: DataSide = { files: [], bytes: 0, label: "none", open: () => Promise.reject(new Error("no")) };
  assertEquals((await run(a, none, ["id"])).seen, ["removed 1", "removed 2"]);
  assertEquals((await run(none, a, ["id"])).seen, ["added 1", "added 2"]);
});

Deno.test("diffRows: partitions too big are split again, rows longer than a buffer pass whole", async () => {
  const long = "x".repeat(20_000);
  const a = side("a", ["id", "v"], many(3000, (i) => [String(i), i === 5 ? long : `v${i}`]));
  const bRows = many(3000, (i) => [String(i), i % 100 === 0 ? `w${i}` : i === 5 ? long + "y" : `v${i}`]);
  const b = side("b", ["id", "v"], bRows.filter((r) => r[0] !== "42"));
  const inMemory = await run(a, b, ["id"]);
  const split = await run(a, b, ["id"], 8192);
  for (const { r } of [inMemory, split]) assertEquals([r.added, r.removed, r.changed], [0, 1, 31]);
  assertEquals(split.seen, inMemory.seen);
  // Whole rows that are all alike land in one partition whatever the seed: split a few times, then held.
  const same = side("s", ["body"], many(400, () => ["same"]));
  const fewer = side("f", ["body"], many(390, () => ["same"]));
  const { r } = await run(same, fewer, undefined, 8);
  assertEquals([r.added, r.removed, r.changed], [0, 10, 0]);
});
