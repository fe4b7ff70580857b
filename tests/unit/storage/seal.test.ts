import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { generateIdentity, identityToRecipient } from "age-encryption";
import {
  backupBlobsFromText,
  BLOB_INDEX,
  blobOf,
  fileKey,
  indexOfMap,
  openingPlain,
  parseIndex,
  Sealer,
  serializeIndex,
} from "../../../lib/storage/seal.ts";
import type { MapObject } from "../../../lib/storage/map.ts";
import { BlobMismatch, type BlobSource } from "../../../lib/storage/remote.ts";
import { recipientsId } from "../../../lib/store/publish.ts";
import { BackupError } from "../../../lib/base/errors.ts";
import { sampleManifest } from "../../support/manifest.ts";
import { Buffer } from "node:buffer";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const H = (c: string) => c.repeat(64);

const obj = (over: Partial<MapObject> = {}): MapObject => ({
  bucket: "docs",
  name: "secret plans.pdf",
  size: 3,
  etag: '"e"',
  contentType: null,
  cacheControl: null,
  userMetadata: null,
  owner: null,
  ownerId: null,
  sha256: H("a"),
  ...over,
});

Deno.test("blobOf: a plain file's blob is its bytes, an encrypted one's its stored blob", () => {
  assertEquals(blobOf(obj()), { sha256: H("a"), size: 3 });
  assertEquals(blobOf(obj({ stored: { sha256: H("b"), bytes: 203 }, parts: 2 })), {
    sha256: H("b"),
    size: 203,
    parts: 2,
  });
});

Deno.test("the blob index hides names, round-trips, and refuses what is not one", () => {
  const objects = [
    obj({ stored: { sha256: H("b"), bytes: 203 } }),
    obj({ name: "x", stored: { sha256: H("c"), bytes: 300 }, parts: 2 }),
  ];
  const ix = indexOfMap(objects, H("f"));
  const text = serializeIndex(ix);
  ok(!text.includes("secret plans") && !text.includes('"docs"'), text);
  assertEquals(ix.objects[0].key, fileKey("docs", "secret plans.pdf"));
  ok(/^[0-9a-f]{32}$/.test(ix.objects[0].key));
  ok(fileKey("a", "b/c") !== fileKey("a/b", "c"), "bucket and name are kept apart");
  const back = parseIndex(text, "x");
  assertEquals(
    [...back.objects].sort((a, b) => a.size - b.size || (a.key < b.key ? -1 : 1)),
    [...ix.objects].sort((a, b) => a.size - b.size || (a.key < b.key ? -1 : 1)),
  );
  throws(() => indexOfMap([obj()], H("f")), /no encrypted blob/);
  const damaged = (t: string) => throws(() => parseIndex(t, "dir/storage-blobs.json"), BackupError);
  damaged("{");
  damaged(JSON.stringify({ format: 2, recipients: H("f"), objects: [] }));
  damaged(text.replace(H("b"), "../../etc/passwd"));
  damaged(text.replace('"bytes":203', '"bytes":-1'));
  damaged(JSON.stringify({ format: 1, recipients: "x", objects: [] }));
});

Deno.test("backupBlobsFromText reads an encrypted archive's blobs from its index, checked against the manifest", () => {
  const ix = serializeIndex(indexOfMap([obj({ stored: { sha256: H("b"), bytes: 203 } })], H("f")));
  const bytes = new TextEncoder().encode(ix);
  const m = {
    ...sampleManifest(),
    files: { [BLOB_INDEX]: { bytes: bytes.length, sha256: sha(bytes) } },
    storage: {
      map: "storage-objects.json.age",
      index: BLOB_INDEX,
      endpoint: "http://h",
      buckets: 1,
      files: 1,
      bytes: 3,
      downloaded: { files: 0, bytes: 0 },
      reused: { files: 0, bytes: 0 },
      changed: [],
      missing: [],
    },
  };
  assertEquals(backupBlobsFromText("a", m, { index: ix }), [{ sha256: H("b"), size: 203 }]);
  throws(() => backupBlobsFromText("a", m, { index: ix + " " }), /does not match the manifest/);
  throws(() => backupBlobsFromText("a", m, {}), /git does not hold it/);
});

Deno.test("Sealer: the encrypted size is known ahead, the plaintext hashed; openingPlain decrypts and refuses a changed byte", async () => {
  const id = await generateIdentity();
  const recipient = await identityToRecipient(id);
  const s = await Sealer.open([recipient], recipientsId([recipient])!);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "key.txt"), `${id}\n`);
    for (const n of [0, 1, 65535, 65536, 65537, 200_000]) {
      const plain = new Uint8Array(n).map((_, i) => (i * 7) & 0xff);
      let counted = 0;
      const sealed = await s.seal(new Blob([plain]).stream(), (k) => counted += k);
      const bytes = new Uint8Array(await new Response(sealed.stream).arrayBuffer());
      assertEquals([bytes.length, counted], [s.sealedSize(n), n], `size ${n}`);
      assertEquals(sealed.digest()?.sha256, sha(plain));
      ok(
        n < 64 || !Buffer.from(bytes).includes(Buffer.from(plain.subarray(10, 42))),
        "plaintext in the blob",
      );
      const o = obj({ size: n, sha256: sha(plain), stored: { sha256: sha(bytes), bytes: bytes.length } });
      const opened: unknown[] = [];
      const src: BlobSource = {
        name: (b) => `blobs/${b.sha256}`,
        open: (b) => {
          opened.push(b);
          return Promise.resolve(new Blob([bytes]).stream());
        },
      };
      const back = openingPlain(src, { identityFile: join(dir, "key.txt") });
      const got = new Uint8Array(await new Response(await back.open(o)).arrayBuffer());
      assertEquals(sha(got), sha(plain));
      assertEquals(opened, [{ sha256: sha(bytes), size: bytes.length }]);
      assertEquals(back.name(o), `blobs/${sha(bytes)}`);
      if (n > 1000) {
        const bad = bytes.slice();
        bad[bad.length - 100] ^= 1;
        const evil = openingPlain({ ...src, open: () => Promise.resolve(new Blob([bad]).stream()) }, {
          identityFile: join(dir, "key.txt"),
        });
        await rejects(new Response(await evil.open(o)).arrayBuffer(), BlobMismatch);
      }
      await rejects(openingPlain(src, {}).open(o), /is encrypted and no --identity-file/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
