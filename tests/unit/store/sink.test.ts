/** FileSink: mark and rewind (what is taken back is handed over in order, size and checksum go back too), with calls handed to worker threads or blocking, its growing buffer, deferred syncs. */
import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BUFFER, FileSink, hashFile, hashOpened, SyncQueue } from "../../../lib/store/sink.ts";

for (const blocking of [false, true]) {
  Deno.test(`FileSink.rewind hands back what follows the mark in blocks and leaves the file as it was there (blocking: ${blocking})`, async () => {
    const dir = await Deno.makeTempDir();
    const bytes = (n: number, seed: number) => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
      return b;
    };
    const before = bytes(BUFFER + 12345, 1); // partly on disk, partly in the sink's buffer
    const after = bytes(2 * BUFFER + 77, 2);
    const s = await FileSink.open(`${dir}/sub/f`, { blocking });
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
    assertEquals(await Deno.readFile(`${dir}/sub/f`), want);
    assertEquals(w, { bytes: want.length, sha256: createHash("sha256").update(want).digest("hex") });
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("FileSink grows its buffer from 16 KiB as a file grows; sync: false, then synced by a SyncQueue", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const chunks: Uint8Array[] = [];
    const sink = await FileSink.open(join(dir, "a", "f"), { sync: false });
    // Chunks that cross each doubling, one larger than the whole buffer, then small ones again.
    for (const n of [1, 10_000, 20_000, 40_000, 3 << 20, 5, 700_000, 1]) {
      const chunk = new Uint8Array(n).map((_, i) => (i * 7 + n) % 251);
      chunks.push(chunk);
      await sink.write(chunk);
    }
    const w = await sink.close();
    const want = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (want.set(c, at), at + c.length), 0);
    const got = await Deno.readFile(join(dir, "a", "f"));
    assertEquals(got.length, want.length);
    assertEquals(got, want);
    assertEquals(w, { bytes: want.length, sha256: createHash("sha256").update(got).digest("hex") });
    const q = new SyncQueue();
    q.add(join(dir, "a", "f"));
    await q.drain();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hashOpened hashes the rest of an open file a block at a time and closes it; hashFile hashes a path", async () => {
  const dir = await Deno.makeTempDir();
  const data = new Uint8Array(2500).map((_, i) => (i * 7) & 0xff);
  await Deno.writeFile(`${dir}/f`, data);
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const f = await Deno.open(`${dir}/f`);
  await f.read(new Uint8Array(10)); // the path check reads nothing, but a reader may have
  assertEquals(await hashOpened(f, new Uint8Array(1000)), { bytes: 2490, sha256: sha(data.subarray(10)) });
  let closed = false;
  await f.read(new Uint8Array(1)).catch((e) => closed = e instanceof Deno.errors.BadResource);
  assertEquals(closed, true);
  assertEquals(await hashFile(`${dir}/f`, new Uint8Array(1000)), { bytes: 2500, sha256: sha(data) });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("SyncQueue syncs files as they are added, skips removed ones and throws the first error on drain", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const q = new SyncQueue(2);
    await q.drain(); // nothing queued
    const paths = Array.from({ length: 7 }, (_, i) => join(dir, `f${i}`));
    for (const p of paths) {
      await Deno.writeTextFile(p, p);
      q.add(p);
    }
    await Deno.remove(paths[6]).catch(() => {}); // removed meanwhile (a fallback rewrites it): no error
    q.add(join(dir, "gone"));
    await q.drain();
    for (const p of paths.slice(0, 6)) assertEquals(await Deno.readTextFile(p), p);
    // A path that cannot be opened for another reason than its absence fails the drain.
    const bad = new SyncQueue();
    bad.add(join(paths[0], "under-a-file"));
    bad.add(paths[1]);
    await rejects(() => bad.drain(), Deno.errors.NotADirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
