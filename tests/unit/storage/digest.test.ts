import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { HashPool, inlineHasher } from "../../../lib/storage/digest.ts";

/** Bytes that differ at every offset, so that a chunk hashed twice or out of order shows. */
function bytes(n: number, seed: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 131 + seed + (i >> 9)) & 0xff);
}

const expected = (b: Uint8Array) => ({ sha256: createHash("sha256").update(b).digest("hex") });

Deno.test("HashPool: two streams' chunks, interleaved, hashed in order off the thread; buffers come back", async () => {
  const pool = new HashPool();
  try {
    const data = [bytes(300_000, 1), bytes(123_457, 2)];
    const hashers = data.map(() => pool.hasher());
    // two buffers a stream: one filled while the other is hashed, as BlobWriter does
    const buffers: (ArrayBuffer | Promise<ArrayBuffer>)[][] = data.map(() => [
      new ArrayBuffer(64 * 1024),
      new ArrayBuffer(64 * 1024),
    ]);
    const offsets = [0, 0];
    const pending: Promise<ArrayBuffer>[] = [];
    const given: ArrayBuffer[] = [];
    for (let turn = 0; offsets.some((o, k) => o < data[k].length); turn++) {
      for (const k of [0, 1]) {
        if (offsets[k] >= data[k].length) continue;
        const b = await buffers[k][turn % 2];
        assertEquals(b.byteLength, 64 * 1024, "a buffer comes back whole");
        const n = Math.min(b.byteLength, data[k].length - offsets[k], 1000 + 9000 * k + (turn % 7) * 5000);
        new Uint8Array(b).set(data[k].subarray(offsets[k], offsets[k] + n));
        offsets[k] += n;
        const back = hashers[k].update(b, n);
        given.push(b);
        pending.push(back);
        buffers[k][turn % 2] = back;
      }
    }
    await Promise.all(pending);
    assertEquals(given.every((b) => b.detached), true, "each buffer was transferred, not copied");
    assertEquals(await Promise.all(hashers.map((h) => h.digest())), data.map(expected));
    // an empty stream
    assertEquals(await pool.hasher().digest(), expected(new Uint8Array(0)));
  } finally {
    pool.close();
  }
});

Deno.test("HashPool: once closed (or failed), its hashers hash on this thread; a stream it held fails", async () => {
  const pool = new HashPool();
  const held = pool.hasher();
  await held.update(new ArrayBuffer(10), 10); // the worker holds its state now
  pool.close();
  await rejects(held.digest(), /closed/);
  const h = pool.hasher();
  const b = bytes(5000, 3);
  const buf = b.slice().buffer;
  assertEquals(await h.update(buf, 4000), buf, "inline: the same buffer, never detached");
  assertEquals(await h.digest(), expected(b.subarray(0, 4000)));
  const inline = inlineHasher();
  await inline.update(b.slice().buffer, 5000);
  assertEquals(await inline.digest(), expected(b));
});

Deno.test("HashPool: when its worker cannot start, every stream is hashed on this thread", async () => {
  const pool = new HashPool(new URL("data:text/javascript,throw new Error('cannot start')"));
  try {
    const early = pool.hasher(); // handed out before the worker failed: its first chunk waits to know
    const b = bytes(3000, 4);
    const buf = b.slice().buffer;
    assertEquals(await early.update(buf, 3000), buf);
    assertEquals(await early.digest(), expected(b));
    const late = pool.hasher();
    await late.update(b.slice().buffer, 2000);
    assertEquals(await late.digest(), expected(b.subarray(0, 2000)));
  } finally {
    pool.close();
  }
});
