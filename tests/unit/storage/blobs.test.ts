import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { blobFiles, heldFiles, partCount, partSize } from "../../../lib/storage/blobs.ts";

const sha = "4a".padEnd(64, "0");

Deno.test("blobFiles: one file, or parts whose names carry the count", () => {
  assertEquals(blobFiles({ sha256: sha }), [`4a/${sha}`]);
  assertEquals(blobFiles({ sha256: sha, parts: 3 }), [
    `4a/${sha}.001of003`,
    `4a/${sha}.002of003`,
    `4a/${sha}.003of003`,
  ]);
  throws(() => blobFiles({ sha256: "../../etc/passwd" }), /not a sha256/);
  // in a holder folder: flat, the same names
  assertEquals(heldFiles({ sha256: sha }), [sha]);
  assertEquals(heldFiles({ sha256: sha, parts: 2 }), [`${sha}.001of002`, `${sha}.002of002`]);
});

Deno.test("partCount and partSize cut a file in equal parts under the limit", () => {
  assertEquals([partCount(0, 10), partCount(10, 10), partCount(11, 10), partCount(100, 10)], [1, 1, 2, 10]);
  const size = 5 * 1024 * 1024 + 17, max = 2_000_000, n = partCount(size, max);
  const sizes = Array.from({ length: n }, (_, i) => partSize(size, n, i));
  assertEquals(sizes.reduce((a, b) => a + b, 0), size);
  assertEquals(sizes.every((s) => s <= max && s > 0), true);
});

Deno.test("BlobWriter.finish with the run's held names keeps one blob a content, without a store", async () => {
  const { BlobWriter, blobPresent } = await import("../../../lib/storage/blobs.ts");
  const root = await Deno.makeTempDir();
  try {
    const holder = `${root}/.staging-0123456789ab-blobs-0000`;
    await Deno.mkdir(holder, { recursive: true });
    const held = new Set<string>();
    const write = async (text: string, max = 1 << 30) => {
      const bytes = new TextEncoder().encode(text);
      const w = new BlobWriter(holder, max, bytes.length);
      await w.write(bytes);
      const d = await w.close();
      return { d, parts: await w.finish(d.sha256, undefined, held) };
    };
    const a = await write("same bytes");
    const b = await write("same bytes"); // the same content again: dropped, the first kept
    const c = await write("other bytes, cut", 6);
    assertEquals([a.parts, b.parts, c.parts], [1, 1, 3]);
    assertEquals(held, new Set([a.d.sha256, heldFiles({ sha256: c.d.sha256, parts: 3 }).join(",")]));
    assertEquals(
      (await Array.fromAsync(Deno.readDir(holder))).map((x) => x.name).sort(),
      [a.d.sha256, ...heldFiles({ sha256: c.d.sha256, parts: 3 })].sort(),
    );
    assertEquals(await blobPresent(holder, { sha256: c.d.sha256, size: 16, parts: 3 }, true), true);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("BlobWriter cuts a download into equal parts, hashes it whole, and names the parts", async () => {
  const { BlobWriter, blobPresent, hashBlob, placeBlobs, storeDir } = await import(
    "../../../lib/storage/blobs.ts"
  );
  const { createHash } = await import("node:crypto");
  const root = await Deno.makeTempDir();
  try {
    const holder = `${root}/.staging-0123456789ab-blobs-0000`;
    await Deno.mkdir(holder, { recursive: true });
    const size = 3 * 1024 * 1024 + 5;
    const data = new Uint8Array(size).map((_, i) => (i * 31 + (i >> 11)) & 0xff);
    const w = new BlobWriter(holder, 1_200_000, size);
    for (let off = 0, step = 1; off < size; off += step, step = (step * 7 + 13) % 70000 + 1) {
      await w.write(data.subarray(off, Math.min(size, off + step)));
    }
    const d = await w.close();
    assertEquals(d, { bytes: size, sha256: createHash("sha256").update(data).digest("hex") });
    const parts = await w.finish(d.sha256, `${root}/elsewhere`);
    assertEquals(parts, partCount(size, 1_200_000));
    const ref = { sha256: d.sha256, size, parts };
    // flat in the holder (no folder per prefix), until placed into the store
    assertEquals(await blobPresent(holder, ref, true), true);
    assertEquals(await blobPresent(storeDir(root), ref), false);
    const empty = new BlobWriter(holder, 1_200_000, 0);
    const e = await empty.close();
    assertEquals([e.bytes, await empty.finish(e.sha256, `${root}/elsewhere`)], [0, 1]);
    assertEquals(await blobPresent(holder, { sha256: e.sha256, size: 0 }, true), true);
    assertEquals(
      (await Array.fromAsync(Deno.readDir(holder))).map((x) => [x.name, x.isFile]).sort(),
      [...heldFiles(ref), e.sha256].map((n) => [n, true]).sort(),
    );
    assertEquals(await placeBlobs(holder, root), parts + 1);
    assertEquals(await blobPresent(storeDir(root), ref), true);
    assertEquals(await blobPresent(storeDir(root), { sha256: e.sha256, size: 0 }), true);
    // read back through the safe reader
    assertEquals((await hashBlob(root, ref)).sha256, d.sha256);
    assertEquals(await placeBlobs(holder, root), 0); // the store has them
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("BlobWriter.pour reads a byte stream straight into its buffers, hashed on the way; parts as write makes them", async () => {
  const { BlobWriter, blobPresent, hashBlob, placeBlobs, storeDir } = await import(
    "../../../lib/storage/blobs.ts"
  );
  const { createHash } = await import("node:crypto");
  const root = await Deno.makeTempDir();
  try {
    const holder = `${root}/.staging-0123456789ab-blobs-0000`;
    await Deno.mkdir(holder, { recursive: true });
    const size = 3 * 1024 * 1024 + 12345;
    const data = new Uint8Array(size).map((_, i) => (i * 29 + (i >> 13)) & 0xff);
    /** A byte stream (as a fetch body is) handing out odd-sized pieces; or a plain stream of chunks. */
    const stream = (bytesMode: boolean) => {
      let off = 0, step = 1;
      const next = () => {
        const n = Math.min(size - off, step);
        step = (step * 7 + 13) % 90000 + 1;
        return n;
      };
      return bytesMode
        ? new ReadableStream({
          type: "bytes",
          autoAllocateChunkSize: 65536,
          pull(ctl) {
            const n = next();
            if (n === 0) {
              ctl.close();
              ctl.byobRequest?.respond(0);
              return;
            }
            const req = ctl.byobRequest!;
            const view = req.view as Uint8Array;
            const m = Math.min(n, view.byteLength);
            view.set(data.subarray(off, off + m));
            off += m;
            req.respond(m);
          },
        })
        : new ReadableStream<Uint8Array>({
          pull(ctl) {
            const n = next();
            if (n === 0) return ctl.close();
            ctl.enqueue(data.slice(off, off + n));
            off += n;
          },
        });
    };
    const want = {
      bytes: size,
      sha256: createHash("sha256").update(data).digest("hex"),
    };
    for (const [bytesMode, max] of [[true, 1_200_000], [false, 1_200_000], [true, 100 << 20]] as const) {
      const w = new BlobWriter(holder, max, size);
      let counted = 0;
      await w.pour(stream(bytesMode), (n) => counted += n);
      const d = await w.close();
      assertEquals([d, counted], [want, size], `byte stream ${bytesMode}, max ${max}`);
      const parts = await w.finish(d.sha256, `${root}/elsewhere`);
      assertEquals(parts, partCount(size, max));
      const ref = { sha256: d.sha256, size, ...(parts > 1 ? { parts } : {}) };
      assertEquals(await blobPresent(holder, ref, true), true);
      // the bytes of each part, in order, are the file's
      const read = new Uint8Array(size);
      let at = 0;
      for (const f of heldFiles(ref)) {
        const b = await Deno.readFile(`${holder}/${f}`);
        read.set(b, at);
        at += b.length;
      }
      assertEquals(at === size && read.every((x, i) => x === data[i]), true);
      await placeBlobs(holder, root);
      assertEquals((await hashBlob(root, ref)).sha256, want.sha256);
      for (const f of heldFiles(ref)) await Deno.remove(`${holder}/${f}`);
      for (const f of blobFiles(ref)) await Deno.remove(`${storeDir(root)}/${f}`);
    }
    // a writer discarded halfway leaves no file behind
    const w = new BlobWriter(holder, 1_200_000, size);
    const half = stream(true).pipeThrough(
      new TransformStream({
        transform(c, ctl) {
          ctl.enqueue(c);
        },
      }),
    );
    const reader = half.getReader();
    for (let i = 0; i < 40; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      await w.write(value);
    }
    await w.discard();
    assertEquals(
      (await Array.fromAsync(Deno.readDir(holder))).filter((e) => e.isFile).map((e) => e.name),
      [],
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("placeBlobs links new blobs, leaves one the store has, replaces one of the wrong size", async () => {
  const { placeBlobs, storeDir } = await import("../../../lib/storage/blobs.ts");
  const root = await Deno.makeTempDir();
  try {
    const holder = `${root}/.staging-0123456789ab-blobs-0000`;
    await Deno.mkdir(holder);
    const names = ["aa", "ab", "ac"].map((p) => p.padEnd(64, "1"));
    for (const n of names) await Deno.writeTextFile(`${holder}/${n}`, `bytes of ${n.slice(0, 2)}`);
    await Deno.writeTextFile(`${holder}/tmp-1234`, "a download not finished"); // not a blob: left
    const store = storeDir(root);
    await Deno.mkdir(`${store}/ab`, { recursive: true });
    await Deno.mkdir(`${store}/ac`);
    await Deno.writeTextFile(`${store}/ab/${names[1]}`, "bytes of ab"); // the same size: left
    await Deno.writeTextFile(`${store}/ac/${names[2]}`, "short"); // another size: replaced
    assertEquals(await placeBlobs(holder, root), 2);
    for (const n of names) {
      assertEquals(await Deno.readTextFile(`${store}/${n.slice(0, 2)}/${n}`), `bytes of ${n.slice(0, 2)}`);
    }
    assertEquals((await Deno.stat(`${store}/aa/${names[0]}`)).nlink, 2, "linked, not copied");
    assertEquals((await Deno.stat(`${store}/ab/${names[1]}`)).nlink, 1, "the store's own copy stays");
    assertEquals(
      (await Array.fromAsync(Deno.readDir(store))).map((e) => e.name).sort(),
      ["aa", "ab", "ac"],
    );
    assertEquals(await placeBlobs(holder, root), 0);
    assertEquals(await placeBlobs(`${root}/none`, root), 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("placeCheckedBlob takes a dead run's download flat or laid out like the store, only with the right bytes", async () => {
  const { placeCheckedBlob, blobPresent, storeDir } = await import("../../../lib/storage/blobs.ts");
  const { createHash } = await import("node:crypto");
  const root = await Deno.makeTempDir();
  try {
    const blob = (text: string) => {
      const bytes = new TextEncoder().encode(text);
      return { bytes, ref: { sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length } };
    };
    const flat = blob("a download a dead run left flat");
    const nested = blob("a download an older run left in a prefix folder");
    const bad = blob("a download whose bytes were damaged");
    const held = `${root}/.staging-dead0000beef-blobs-0badcafe`;
    await Deno.mkdir(`${held}/${nested.ref.sha256.slice(0, 2)}`, { recursive: true });
    await Deno.writeFile(`${held}/${flat.ref.sha256}`, flat.bytes);
    await Deno.writeFile(`${held}/${nested.ref.sha256.slice(0, 2)}/${nested.ref.sha256}`, nested.bytes);
    const damaged = bad.bytes.slice();
    damaged[0] ^= 1;
    await Deno.writeFile(`${held}/${bad.ref.sha256}`, damaged);
    assertEquals(await placeCheckedBlob(held, root, flat.ref), true);
    assertEquals(await placeCheckedBlob(held, root, nested.ref), true);
    assertEquals(await placeCheckedBlob(held, root, bad.ref), false);
    assertEquals(await placeCheckedBlob(held, root, blob("never downloaded").ref), false);
    assertEquals(await blobPresent(storeDir(root), flat.ref), true);
    assertEquals(await blobPresent(storeDir(root), nested.ref), true);
    assertEquals(await blobPresent(storeDir(root), bad.ref), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
