/**
 * What the S3 backend of `--store` puts on the wire: every request with a body carries a
 * Content-Length and is never sent chunked. AWS S3's PutObject and UploadPart refuse a chunked
 * body without one (and fetch sends any stream body chunked), while the Supabase Storage server that
 * the store tests run against accepts both; so this is checked here, against a local HTTP server that
 * records each request's framing and answers as S3 does.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { S3_SIDES, S3Client } from "../../../lib/store/s3.ts";
import { S3ObjectStore } from "../../../lib/store/s3store.ts";

interface Seen {
  method: string;
  query: string;
  length: string | null;
  chunked: boolean;
  bytes: number;
}

Deno.test("S3ObjectStore sends every body with a Content-Length, never chunked: bytes, a small file, a multipart file", async () => {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const body = new Uint8Array(await req.arrayBuffer());
    seen.push({
      method: req.method,
      query: [...url.searchParams.keys()].sort().join(","),
      length: req.headers.get("content-length"),
      chunked: /chunked/i.test(req.headers.get("transfer-encoding") ?? ""),
      bytes: body.length,
    });
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
    return new Response(null, { headers: { etag: `"e${seen.length}"` } });
  });
  const dir = await Deno.makeTempDir({ prefix: "s3wire-" });
  try {
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${server.addr.port}/s3`,
      region: "us-east-1",
      accessKeyId: "wire-test-key-id",
      secretAccessKey: "wire-test-secret",
      ...S3_SIDES.source,
    }, { retries: 0 });
    const store = new S3ObjectStore(client, "bucket", "p", { multipartAbove: 6 << 20, partSize: 5 << 20 });
    const small = join(dir, "small");
    const big = join(dir, "big");
    await Deno.writeFile(small, new Uint8Array(300_000).fill(7));
    await Deno.writeFile(big, new Uint8Array(12 << 20).fill(9));
    await store.put("manifest.json", { bytes: new TextEncoder().encode("{}") });
    await store.put("blobs/aa/small", { path: small, size: 300_000 });
    await store.put("blobs/bb/big", { path: big, size: 12 << 20 });
    const bodies = seen.filter((s) => s.method === "PUT" || s.query.includes("uploadId"));
    for (const s of bodies) {
      assert(!s.chunked, `${s.method} ?${s.query} was sent chunked`);
      assertEquals(s.length, String(s.bytes), `${s.method} ?${s.query}`);
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
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
