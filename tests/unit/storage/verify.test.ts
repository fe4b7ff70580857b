import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createHash } from "node:crypto";
import { type BlobMemo, verifyBlobs } from "../../../lib/storage/verify.ts";
import {
  MAP_FORMAT,
  type MapObject,
  SEALED_MAP,
  serializeMap,
  STORAGE_MAP,
  type StorageMap,
} from "../../../lib/storage/map.ts";
import { BLOB_INDEX, indexOfMap, Sealer, serializeIndex } from "../../../lib/storage/seal.ts";
import { recipientsId } from "../../../lib/store/publish.ts";
import { Encrypter, generateIdentity, identityToRecipient } from "age-encryption";
import type { BackupReader } from "../../../lib/store/reader.ts";
import type { Manifest } from "../../../lib/store/manifest.ts";
import { sampleManifest } from "../../support/manifest.ts";

const enc = new TextEncoder();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A backup in an object store, seen through the reader interface: its map and its blobs in memory. */
function backupOf(
  blobs: Map<string, Uint8Array>,
  files: { name: string; bytes: Uint8Array }[],
  opened: string[],
) {
  const map: StorageMap = {
    format: MAP_FORMAT,
    buckets: [{
      id: "docs",
      name: "docs",
      public: false,
      fileSizeLimit: null,
      allowedMimeTypes: null,
      owner: null,
      ownerId: null,
    }],
    objects: files.map((f) => ({
      bucket: "docs",
      name: f.name,
      sha256: sha(f.bytes),
      size: f.bytes.length,
      etag: `"x"`,
      contentType: null,
      cacheControl: null,
      userMetadata: null,
      owner: null,
      ownerId: null,
    })),
  };
  const mapBytes = enc.encode(serializeMap(map));
  blobs.set(sha(mapBytes), mapBytes);
  const m: Manifest = {
    ...sampleManifest(),
    files: { [STORAGE_MAP]: { bytes: mapBytes.length, sha256: sha(mapBytes) } },
    storage: {
      map: STORAGE_MAP,
      endpoint: "http://127.0.0.1",
      buckets: 1,
      files: files.length,
      bytes: 0,
      downloaded: { files: 0, bytes: 0 },
      reused: { files: 0, bytes: 0 },
      changed: [],
      missing: [],
    },
  };
  const reader: BackupReader = {
    where: "s3://b/p/backups/x.json",
    manifest: m,
    open: (_rel, entry) => {
      const b = blobs.get(entry.sha256);
      if (!b) return Promise.reject(new Deno.errors.NotFound(`blob ${entry.sha256} is missing`));
      if (entry.sha256 !== sha(mapBytes)) opened.push(entry.sha256);
      return Promise.resolve(new Blob([b as Uint8Array<ArrayBuffer>]).stream());
    },
  };
  return reader;
}

Deno.test("verify --all reads a Storage blob several backups share once, and checks it for each", async () => {
  const a = enc.encode("alpha"), b = enc.encode("beta"), c = enc.encode("gamma");
  const blobs = new Map([a, b, c].map((x) => [sha(x), x]));
  const opened: string[] = [];
  const one = backupOf(blobs, [{ name: "a", bytes: a }, { name: "b", bytes: b }], opened);
  const two = backupOf(
    blobs,
    [{ name: "a", bytes: a }, { name: "b2", bytes: b }, { name: "c", bytes: c }],
    opened,
  );
  const memo: BlobMemo = new Map();
  const r1 = await verifyBlobs(one, one.manifest, { memo });
  const r2 = await verifyBlobs(two, two.manifest, { memo });
  assertEquals([r1.blobs, r1.faults, r2.blobs, r2.faults], [2, [], 3, []]);
  assertEquals(opened.sort(), [sha(a), sha(b), sha(c)].sort(), "each blob read once");
  // a damaged shared blob is a fault of every backup that names it, still read once
  blobs.set(sha(a), enc.encode("alphX"));
  opened.length = 0;
  const fresh: BlobMemo = new Map();
  const f1 = await verifyBlobs(one, one.manifest, { memo: fresh });
  const f2 = await verifyBlobs(two, two.manifest, { memo: fresh });
  assertEquals([f1.faults.map((f) => [f.file, f.problem]), f2.faults.map((f) => [f.file, f.problem])], [
    [[`blobs/${sha(a).slice(0, 2)}/${sha(a)}`, "checksum"]],
    [[`blobs/${sha(a).slice(0, 2)}/${sha(a)}`, "checksum"]],
  ]);
  assertEquals(opened.filter((x) => x === sha(a)).length, 1);
  // without a memo, each backup reads its blobs
  opened.length = 0;
  await verifyBlobs(one, one.manifest);
  await verifyBlobs(one, one.manifest);
  assertEquals(opened.length, 4);
});

Deno.test("verifyBlobs of encrypted files: without the identity the blobs by the index, with it the plaintext", async () => {
  const id = await generateIdentity();
  const recipient = await identityToRecipient(id);
  const rid = recipientsId([recipient])!;
  const sealer = await Sealer.open([recipient], rid);
  const dir = await Deno.makeTempDir();
  try {
    const identityFile = `${dir}/key.txt`;
    await Deno.writeTextFile(identityFile, `${id}\n`);
    const blobs = new Map<string, Uint8Array>();
    const put = (b: Uint8Array) => (blobs.set(sha(b), b), { bytes: b.length, sha256: sha(b) });
    const objects: MapObject[] = [];
    for (const [name, text] of [["a", "alpha"], ["b", "beta".repeat(40_000)]]) {
      const plain = enc.encode(text);
      const s = await sealer.seal(new Blob([plain]).stream());
      const stored = put(new Uint8Array(await new Response(s.stream).arrayBuffer()));
      objects.push({
        bucket: "docs",
        name,
        size: plain.length,
        etag: '"x"',
        sha256: sha(plain),
        stored,
        contentType: null,
        cacheControl: null,
        userMetadata: null,
        owner: null,
        ownerId: null,
      });
    }
    const map: StorageMap = {
      format: MAP_FORMAT,
      buckets: [{
        id: "docs",
        name: "docs",
        public: false,
        fileSizeLimit: null,
        allowedMimeTypes: null,
        owner: null,
        ownerId: null,
      }],
      objects,
    };
    const mapPlain = enc.encode(serializeMap(map));
    const e = new Encrypter();
    e.addRecipient(recipient);
    const mapStored = put(await e.encrypt(mapPlain));
    const indexBytes = enc.encode(serializeIndex(indexOfMap(objects, rid)));
    const indexStored = put(indexBytes);
    const m: Manifest = {
      ...sampleManifest(),
      files: {
        [SEALED_MAP]: { bytes: mapPlain.length, sha256: sha(mapPlain), encrypted: true, stored: mapStored },
        [BLOB_INDEX]: indexStored,
      },
      storage: {
        map: SEALED_MAP,
        index: BLOB_INDEX,
        endpoint: "http://127.0.0.1",
        buckets: 1,
        files: 2,
        bytes: 0,
        downloaded: { files: 0, bytes: 0 },
        reused: { files: 0, bytes: 0 },
        changed: [],
        missing: [],
      },
    };
    const reader: BackupReader = {
      where: "s3://b/p/backups/x.json",
      manifest: m,
      open: (_rel, entry) => {
        const b = blobs.get(entry.stored?.sha256 ?? entry.sha256);
        if (!b) return Promise.reject(new Deno.errors.NotFound("missing"));
        return Promise.resolve(new Blob([b as Uint8Array<ArrayBuffer>]).stream());
      },
    };
    const without = await verifyBlobs(reader, m);
    assertEquals([without.blobs, without.faults, without.encrypted], [2, [], { files: 2, decrypted: false }]);
    const withId = await verifyBlobs(reader, m, { identityFile });
    assertEquals([withId.blobs, withId.faults, withId.encrypted], [2, [], { files: 2, decrypted: true }]);
    // a changed byte: named by its blob without the identity, and with its file with it
    const victim = objects[1].stored!.sha256;
    const bad = blobs.get(victim)!.slice();
    bad[bad.length - 30] ^= 1;
    blobs.set(victim, bad);
    const f1 = await verifyBlobs(reader, m);
    assertEquals(f1.faults.map((f) => [f.file, f.problem]), [[
      `blobs/${victim.slice(0, 2)}/${victim}`,
      "checksum",
    ]]);
    const f2 = await verifyBlobs(reader, m, { identityFile });
    assertEquals(f2.faults.length, 1);
    assertEquals(f2.faults[0].file, `blobs/${victim.slice(0, 2)}/${victim}`);
    assertEquals(f2.faults[0].detail.startsWith("docs/b: "), true, f2.faults[0].detail);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
