import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  BlobMismatch,
  blobSourceOf,
  checkedStream,
  hashStream,
  localBlobs,
  readerBlobs,
  storeBucketOfSource,
} from "../../../lib/storage/remote.ts";
import type { BackupReader } from "../../../lib/store/reader.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const x of chunks) c.enqueue(x);
      c.close();
    },
  });
}

/** Reads a stream, returning what arrived before it ended or failed, and the error. */
async function drain(s: ReadableStream<Uint8Array>): Promise<{ got: number; error?: unknown }> {
  let got = 0;
  try {
    for await (const c of s) got += c.length;
    return { got };
  } catch (error) {
    return { got, error };
  }
}

const chunks = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5]), new Uint8Array([6, 7, 8, 9])];
const whole = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);

Deno.test("checkedStream passes every byte of a blob that matches, and gives its digest", async () => {
  const c = checkedStream(streamOf(chunks), { sha256: sha(whole), size: 9 });
  assertEquals(await drain(c.stream), { got: 9 });
  const d = c.digest()!;
  assertEquals([d.bytes, d.sha256, d.md5], [9, sha(whole), createHash("md5").update(whole).digest("hex")]);
  assertEquals(c.failed(), false);
});

Deno.test("checkedStream holds the last chunk back: a damaged blob never arrives whole", async () => {
  const bad = [chunks[0], chunks[1], new Uint8Array([6, 7, 8, 0])];
  const c = checkedStream(streamOf(bad), { sha256: sha(whole), size: 9 });
  const r = await drain(c.stream);
  ok(r.error instanceof BlobMismatch, String(r.error));
  assertEquals(r.got, 5, "the last chunk is not passed on");
  assertEquals([c.digest(), c.failed()], [undefined, true]);
  // one chunk only: nothing at all is passed on
  const one = checkedStream(streamOf([new Uint8Array([9, 9])]), {
    sha256: sha(new Uint8Array([1, 1])),
    size: 2,
  });
  const r1 = await drain(one.stream);
  assertEquals([r1.got, r1.error instanceof BlobMismatch], [0, true]);
});

Deno.test("checkedStream fails a blob longer or shorter than its size", async () => {
  const long = checkedStream(streamOf([...chunks, new Uint8Array([10])]), { sha256: sha(whole), size: 9 });
  const r = await drain(long.stream);
  ok(r.error instanceof BlobMismatch);
  ok(r.got < 9, `${r.got} bytes passed`);
  const short = checkedStream(streamOf(chunks.slice(0, 2)), { sha256: sha(whole), size: 9 });
  const s = await drain(short.stream);
  ok(s.error instanceof BlobMismatch);
  assertEquals(s.got, 3);
});

Deno.test("hashStream gives size and sha256, and the MD5 only when asked", async () => {
  const d = await hashStream(streamOf(chunks));
  assertEquals(d, { bytes: 9, sha256: sha(whole) });
  const m = await hashStream(streamOf(chunks), true);
  assertEquals(m, { bytes: 9, sha256: sha(whole), md5: createHash("md5").update(whole).digest("hex") });
});

Deno.test("blob names: storage/blobs/ in a folder store, blobs/ in an object store", async () => {
  const h = "ab".padEnd(64, "0");
  assertEquals(localBlobs("/r").name({ sha256: h, size: 1 }), `storage/blobs/ab/${h}`);
  const opened: string[] = [];
  const reader: BackupReader = {
    where: "s3://b/p/backups/x.json",
    manifest: {} as BackupReader["manifest"],
    open: (_rel, entry) => {
      opened.push(`${entry.sha256} ${entry.bytes}`);
      return Promise.resolve(streamOf([]));
    },
  };
  const src = readerBlobs(reader);
  assertEquals(src.name({ sha256: h, size: 1 }), `blobs/ab/${h}`);
  assertEquals(src.local, undefined);
  await src.open({ sha256: h, size: 7 });
  assertEquals(opened, [`${h} 7`]);
});

Deno.test("storeBucketOfSource: an S3 store on the source project's own endpoint names its bucket", () => {
  const src = "https://abc.storage.supabase.co/storage/v1/s3";
  const at = (endpoint: string) => storeBucketOfSource({ endpoint, bucket: "backups" }, src);
  assertEquals(at(src), "backups");
  assertEquals(at("https://ABC.storage.supabase.co/storage/v1/s3/"), "backups");
  assertEquals(at("https://xyz.storage.supabase.co/storage/v1/s3"), undefined);
  assertEquals(at("https://backups.s3.eu-central-1.amazonaws.com"), undefined);
  assertEquals(storeBucketOfSource(undefined, src), undefined);
});

Deno.test("blobSourceOf: a git reader's blobs are its root's files in that commit, parts in order", async () => {
  const enc = new TextEncoder();
  const whole = enc.encode("abcdefgh");
  const h = sha(whole);
  const files: Record<string, Uint8Array[]> = {
    [`storage/blobs/${h.slice(0, 2)}/${h}.001of002`]: [enc.encode("ab"), enc.encode("cd")],
    [`storage/blobs/${h.slice(0, 2)}/${h}.002of002`]: [enc.encode("efgh")],
  };
  const opened: string[] = [];
  const reader: BackupReader = {
    where: "abc1234:backups/latest",
    manifest: {} as BackupReader["manifest"],
    open: () => Promise.reject(new Error("not used for blobs")),
    openRootFile(rel) {
      opened.push(rel);
      const f = files[rel];
      return f ? Promise.resolve(streamOf(f)) : Promise.reject(new Deno.errors.NotFound(rel));
    },
  };
  const src = await blobSourceOf(reader, () => Promise.reject(new Error("not a folder")));
  const got = await new Response(await src.open({ sha256: h, size: 8, parts: 2 })).arrayBuffer();
  assertEquals(new Uint8Array(got), whole);
  assertEquals(opened, Object.keys(files));
  assertEquals(src.name({ sha256: h, size: 8, parts: 2 }), `storage/blobs/${h.slice(0, 2)}/${h}.001of002`);
  // A missing blob is NotFound when it is opened, as on disk.
  const missing = "0".repeat(64);
  await src.open({ sha256: missing, size: 1 }).then(
    () => ok(false, "opened a missing blob"),
    (e) => ok(e instanceof Deno.errors.NotFound, String(e)),
  );
});

Deno.test("checkedStream fails when its source fails with a BlobMismatch (an encrypted blob age refuses)", async () => {
  let n = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (n++ === 0) c.enqueue(new Uint8Array([1, 2, 3]));
      else c.error(new BlobMismatch("a chunk does not decrypt"));
    },
  });
  const c = checkedStream(source, { sha256: sha(whole), size: 9 });
  const r = await drain(c.stream);
  ok(r.error instanceof BlobMismatch, String(r.error));
  assertEquals([r.got, c.failed(), c.digest()], [0, true, undefined]);
  // another error of the source is passed on, and is not the blob's fault
  const other = checkedStream(new ReadableStream({ pull: (ctl) => ctl.error(new Error("reset")) }), {
    sha256: sha(whole),
    size: 9,
  });
  const o = await drain(other.stream);
  assertEquals([(o.error as Error).message, other.failed()], ["reset", false]);
});
