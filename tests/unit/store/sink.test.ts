/** FileSink's mark and rewind: what is taken back is handed over in order, and size and checksum go back too. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createHash } from "node:crypto";
import { BUFFER, FileSink } from "../../../lib/store/sink.ts";

Deno.test("FileSink.rewind hands back what follows the mark in blocks and leaves the file as it was there", async () => {
  const dir = await Deno.makeTempDir();
  const bytes = (n: number, seed: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
    return b;
  };
  const before = bytes(BUFFER + 12345, 1); // partly on disk, partly in the sink's buffer
  const after = bytes(2 * BUFFER + 77, 2);
  const s = await FileSink.open(`${dir}/f`);
  await s.write(before);
  const m = s.mark();
  await s.write(after.subarray(0, 1000));
  await s.write(after.subarray(1000));
  const taken: Uint8Array[] = [];
  await s.rewind(m, (block) => {
    taken.push(block.slice());
    return Promise.resolve();
  });
  const joined = new Uint8Array(taken.reduce((n, b) => n + b.length, 0));
  taken.reduce((at, b) => (joined.set(b, at), at + b.length), 0);
  assertEquals(joined, after);
  assertEquals(taken.every((b) => b.length <= BUFFER), true);
  const tail = bytes(10, 3);
  await s.write(tail);
  const w = await s.close();
  const want = new Uint8Array([...before, ...tail]);
  assertEquals(await Deno.readFile(`${dir}/f`), want);
  assertEquals(w, { bytes: want.length, sha256: createHash("sha256").update(want).digest("hex") });
  await Deno.remove(dir, { recursive: true });
});
