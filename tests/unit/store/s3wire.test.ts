/**
 * What the uploads of `--store` (S3 and Azure Blob) and of `restore --storage` put on the wire:
 * every request with a body carries its exact Content-Length and is never sent chunked. AWS S3's
 * PutObject / UploadPart and Azure's Put Block refuse a chunked body without one (and fetch sends
 * any stream body chunked), while the Supabase Storage server and Azurite that the store tests run
 * against accept both; so this is checked here, against a local HTTP server that records each
 * request's framing and answers as the service does. The S3 payload hash and Azure's Content-MD5
 * must be those of the bytes received, and Azure's SharedKey signature must cover the headers as
 * they arrived.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  type AzblobOptions,
  AzblobStore,
  DEV_ACCOUNT,
  DEV_KEY,
  sharedKeyAuthorization,
  stringToSign,
} from "../../../lib/store/azblob.ts";
import { BackupError } from "../../../lib/base/errors.ts";
import { HttpTransport } from "../../../lib/store/http.ts";
import { S3_SIDES, S3Client } from "../../../lib/store/s3.ts";
import { S3ObjectStore } from "../../../lib/store/s3store.ts";
import type { MapObject } from "../../../lib/storage/map.ts";
import type { BlobSource } from "../../../lib/storage/remote.ts";
import { planStorageRestore, restoreFiles } from "../../../lib/storage/restore.ts";
import { type StallAnswer, stallServer, within } from "../../support/stall.ts";

interface Seen {
  method: string;
  path: string;
  query: string;
  length: string | null;
  chunked: boolean;
  bytes: number;
  sha256: string;
  md5: string;
  /** `x-amz-content-sha256` as sent. */
  payloadHash: string | null;
  /** `content-md5` as sent. */
  contentMd5: string | null;
  /** Whether an Azure SharedKey signature matches the request as received (undefined: not Azure). */
  signed?: boolean;
}

/** A local server answering as S3 (`azure`: as the Blob service) and recording each whole request. */
function wire(azure = false) {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    let body: Uint8Array;
    try {
      body = new Uint8Array(await req.arrayBuffer());
    } catch {
      return new Response("cut", { status: 400 }); // the client broke the request off
    }
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => headers[k] = v);
    const md5 = createHash("md5").update(body);
    seen.push({
      method: req.method,
      path: decodeURIComponent(url.pathname),
      query: [...url.searchParams.keys()].sort().join(","),
      length: req.headers.get("content-length"),
      chunked: /chunked/i.test(req.headers.get("transfer-encoding") ?? ""),
      bytes: body.length,
      sha256: createHash("sha256").update(body).digest("hex"),
      md5: md5.copy().digest("base64"),
      payloadHash: req.headers.get("x-amz-content-sha256"),
      contentMd5: req.headers.get("content-md5"),
      ...(azure
        ? {
          signed: headers.authorization ===
            sharedKeyAuthorization(
              DEV_ACCOUNT,
              DEV_KEY,
              stringToSign(req.method, req.url, DEV_ACCOUNT, headers),
            ),
        }
        : {}),
    });
    const etag = `"${md5.digest("hex")}"`;
    if (azure) return new Response(null, { status: 201, headers: { etag } });
    if (req.method === "POST" && url.searchParams.has("uploads")) {
      return new Response(
        "<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>",
      );
    }
    if (req.method === "POST") {
      return new Response(
        '<CompleteMultipartUploadResult><ETag>"m-3"</ETag></CompleteMultipartUploadResult>',
      );
    }
    return new Response(null, { headers: { etag } });
  });
  return { seen, server, port: server.addr.port };
}

/** Every recorded body went with its own length, unchunked. */
function assertFramed(seen: Seen[]): void {
  for (const s of seen) {
    assert(!s.chunked, `${s.method} ${s.path} ?${s.query} was sent chunked`);
    assertEquals(s.length, String(s.bytes), `${s.method} ${s.path} ?${s.query}`);
  }
}

function s3Client(
  port: number,
  opts: { retries: number; transport?: HttpTransport } = { retries: 0 },
): S3Client {
  return new S3Client({
    endpoint: `http://127.0.0.1:${port}/s3`,
    region: "us-east-1",
    accessKeyId: "wire-test-key-id",
    secretAccessKey: "wire-test-secret",
    ...S3_SIDES.source,
  }, opts);
}

/** An Azure Blob store of container `c`, prefix `p/`, on the local server at `port`. */
function azStore(port: number, opts: AzblobOptions): AzblobStore {
  return new AzblobStore(
    {
      endpoint: `http://127.0.0.1:${port}/${DEV_ACCOUNT}`,
      account: DEV_ACCOUNT,
      auth: { kind: "sharedKey", key: DEV_KEY },
      source: "connection string",
    },
    { container: "c", prefix: "p/" },
    opts,
  );
}

function fill(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

Deno.test("S3ObjectStore sends every body with a Content-Length, never chunked, signed with its SHA-256: bytes, a small file, a multipart file", async () => {
  const { seen, server, port } = wire();
  const dir = await Deno.makeTempDir({ prefix: "s3wire-" });
  try {
    const store = new S3ObjectStore(s3Client(port), "bucket", "p", {
      multipartAbove: 6 << 20,
      partSize: 5 << 20,
    });
    const small = join(dir, "small");
    const big = join(dir, "big");
    const bigBytes = fill(12 << 20, 9);
    await Deno.writeFile(small, fill(300_000, 7));
    await Deno.writeFile(big, bigBytes);
    await store.put("manifest.json", { bytes: new TextEncoder().encode("{}") });
    await store.put("blobs/aa/small", { path: small, size: 300_000 });
    await store.put("blobs/bb/big", { path: big, size: 12 << 20 });
    const bodies = seen.filter((s) => s.method === "PUT" || s.query.includes("uploadId"));
    assertFramed(bodies);
    for (const s of bodies) {
      assertEquals(s.payloadHash, s.sha256, `${s.method} ?${s.query}: the payload hash`);
    }
    // one PUT each for the bytes and the small file; the big file in three parts, then completed
    const lines = seen.map((s) => `${s.method} ${s.query} ${s.bytes}`);
    assertEquals(lines.slice(0, 3), ["PUT  2", "PUT  300000", "POST uploads 0"]);
    assertEquals(
      lines.slice(3, 6).sort(),
      [2 << 20, 5 << 20, 5 << 20].map((n) => `PUT partNumber,uploadId ${n}`),
    );
    assert(lines[6].startsWith("POST uploadId "), lines[6]);
    assertEquals(lines.length, 7);
    assertEquals(
      seen.slice(3, 6).map((s) => s.sha256).sort(),
      [0, 1, 2].map((i) => sha(bigBytes.subarray(i * (5 << 20), (i + 1) * (5 << 20)))).sort(),
      "the parts hold the file's bytes",
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AzblobStore sends every body with a Content-Length, never chunked, with its Content-MD5 and a signature of what arrived", async () => {
  const { seen, server, port } = wire(true);
  const dir = await Deno.makeTempDir({ prefix: "azwire-" });
  try {
    const store = azStore(port, { retries: 0, partSize: 1 << 20, concurrency: 2 });
    const small = join(dir, "small");
    const big = join(dir, "big");
    await Deno.writeFile(small, fill(300_000, 3));
    await Deno.writeFile(big, fill(2_500_000, 5));
    await store.createContainer();
    assert((await store.put("manifest.json", { bytes: new TextEncoder().encode("{}") })).ok);
    assert((await store.put("blobs/aa/small", { path: small, size: 300_000 }, { ifAbsent: true })).ok);
    assert((await store.put("blobs/bb/big", { path: big, size: 2_500_000 })).ok);
    assert((await store.put("blobs/cc/bytes", { bytes: fill(1_500_000, 1) })).ok);
    assertFramed(seen);
    for (const s of seen) assertEquals(s.signed, true, `${s.method} ${s.path} ?${s.query}: the signature`);
    for (
      const s of seen.filter((s) => s.query.includes("blockid") || s.bytes > 2 && !s.query.includes("comp"))
    ) {
      assertEquals(s.contentMd5, s.md5, `${s.method} ${s.path} ?${s.query}: the Content-MD5`);
    }
    const lines = seen.map((s) => `${s.path} ${s.query} ${s.bytes}`);
    assertEquals(lines.slice(0, 3), [
      "/devstoreaccount1/c restype 0",
      "/devstoreaccount1/c/p/manifest.json  2",
      "/devstoreaccount1/c/p/blobs/aa/small  300000",
    ]);
    assertEquals(
      lines.slice(3, 6).sort(),
      [1 << 20, 1 << 20, 2_500_000 - (2 << 20)].map((n) =>
        `/devstoreaccount1/c/p/blobs/bb/big blockid,comp ${n}`
      ).sort(),
    );
    assert(lines[6].startsWith("/devstoreaccount1/c/p/blobs/bb/big comp "), lines[6]);
    assertEquals(
      lines.slice(7, 9).sort(),
      [1 << 20, 1_500_000 - (1 << 20)].map((n) => `/devstoreaccount1/c/p/blobs/cc/bytes blockid,comp ${n}`)
        .sort(),
    );
    assertEquals(lines.length, 10);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("restore --storage streams each file to the project's S3 with its Content-Length, never chunked; a damaged blob is cut short", async () => {
  const { seen, server, port } = wire();
  try {
    const files = [fill(700_000, 2), fill(3_000_001, 4), fill(10, 6)];
    const unset = { owner: null, ownerId: null };
    const object = (name: string, b: Uint8Array): MapObject => ({
      bucket: "docs",
      name,
      size: b.length,
      etag: `"${createHash("md5").update(b).digest("hex")}"`,
      contentType: "application/pdf",
      cacheControl: "max-age=60",
      userMetadata: { a: "1" },
      ...unset,
      sha256: sha(b),
    });
    const map = {
      format: 1,
      buckets: [{
        id: "docs",
        name: "docs",
        public: false,
        ...unset,
        fileSizeLimit: null,
        allowedMimeTypes: null,
      }],
      objects: files.map((b, i) => object(`dir/f${i}.pdf`, b)),
    };
    let damage = false;
    const blobs: BlobSource = {
      name: (b) => `blobs/${b.sha256}`,
      open: (b) => {
        const bytes = files.find((f) => sha(f) === b.sha256)!;
        // from an object store, in chunks, as a download arrives
        return Promise.resolve(new Blob([damage ? fill(bytes.length, 99) : bytes]).stream());
      },
    };
    const plan = planStorageRestore(map, { include: [], exclude: [] }, {
      buckets: new Set(["docs"]),
      objects: new Map(),
    }, { clean: false });
    const done = await restoreFiles(plan, { s3: s3Client(port), blobs, jobs: 2, log: () => {} });
    assertEquals(done.uploaded, 3);
    const puts = seen.filter((s) => s.method === "PUT");
    assertFramed(puts);
    assertEquals(puts.map((s) => s.path).sort(), [
      "/s3/docs/dir/f0.pdf",
      "/s3/docs/dir/f1.pdf",
      "/s3/docs/dir/f2.pdf",
    ]);
    for (const s of puts) {
      assertEquals(s.payloadHash, s.sha256, `${s.path}: the payload hash`);
      assert(files.some((f) => sha(f) === s.sha256), `${s.path}: the file's bytes`);
    }
    // a blob whose bytes are not the map's: the upload is cut short, so no server stores it
    damage = true;
    seen.length = 0;
    await rejects(
      restoreFiles(plan, { s3: s3Client(port), blobs, jobs: 1, log: () => {} }),
      /the blob of docs\/dir\/f\d\.pdf does not match the backup's map/,
    );
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(seen.filter((s) => s.method === "PUT").length, 0, "no whole PUT arrived");
  } finally {
    await server.shutdown();
  }
});

Deno.test("a request without a body to a server that reads it and never answers fails after its retries, no hang", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) {
      conns.push(c);
      c.read(new Uint8Array(64 << 10)).catch(() => null); // reads the request, answers nothing
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  const transport = new HttpTransport({ idleTimeoutMs: 500 }); // fetch takes its idle timeout
  try {
    const s3 = s3Client(port, { retries: 1, transport });
    const az = azStore(port, { retries: 1, transport });
    for (
      const [what, call] of [
        ["S3 get", () => s3.get("bucket", "k")],
        ["Azure head", () => az.head("k")],
      ] as const
    ) {
      const before = conns.length;
      const e = await call().then(() => undefined, (e) => e);
      assert(e instanceof BackupError, `${what}: ${e}`);
      assert(/cannot reach .*2 attempt\(s\)\): no answer from .* \(timed out\)/.test(e.message), e.message);
      assertEquals(conns.length - before, 2, `${what}: tried and retried`);
    }
  } finally {
    transport.close();
    listener.close();
    for (const c of conns) c.close();
    await accepting;
  }
});

Deno.test("a GET whose body stalls halfway fails (S3) or resumes (Azure) after the idle time, no hang", async () => {
  const whole = fill(200_000, 7);
  const half = whole.length / 2;
  const etag = '"e1"';
  const srv = stallServer((req): StallAnswer => {
    const range = req.headers["x-ms-range"]?.match(/^bytes=(\d+)-$/);
    if (range) {
      const rest = whole.subarray(Number(range[1]));
      return {
        status: 206,
        headers: { etag, "content-range": `bytes ${range[1]}-${whole.length - 1}/${whole.length}` },
        body: rest,
      };
    }
    // every first GET: the headers and half the body, then silence
    return { status: 200, headers: { etag }, body: whole, stallAfter: half };
  });
  const transport = new HttpTransport({ idleTimeoutMs: 500 }); // fetch takes its idle timeout
  try {
    const got = await s3Client(srv.port, { retries: 1, transport }).get("bucket", "k");
    assert(got, "the S3 object is there");
    assertEquals(got.head.size, whole.length);
    const e = await within(new Response(got.body).arrayBuffer(), 30_000, "S3 body").then(
      () => undefined,
      (e) => e,
    );
    assert(e instanceof TypeError, `S3: ${e}`); // an HttpNetworkError: the callers retry it
    assert(
      /the answer from (http:\/\/)?127\.0\.0\.1:\d+ stalled: no data for 0\.5 s/.test(e.message),
      e.message,
    );
    assertEquals(srv.seen.length, 1);

    const logs: string[] = [];
    const az = azStore(srv.port, { retries: 1, transport, log: (l) => logs.push(l) });
    const body = await az.get("k");
    assert(body, "the Azure blob is there");
    const bytes = new Uint8Array(await within(new Response(body).arrayBuffer(), 30_000, "Azure body"));
    assertEquals(sha(bytes), sha(whole));
    assertEquals(srv.seen.map((r) => r.headers["x-ms-range"] ?? null), [null, null, `bytes=${half}-`]);
    assertEquals(srv.seen[2].headers["if-match"], etag);
    assert(logs.some((l) => l.includes(`broke at byte ${half}; resuming (1/1)`)), logs.join("\n"));
  } finally {
    transport.close();
    await srv.close();
  }
});
