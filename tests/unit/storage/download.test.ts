/**
 * backup --storage's downloads against a local server whose answer stalls halfway: the download
 * fails within the (small) idle time, its partial bytes are discarded, and it is fetched again
 * from the start.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BackupError } from "../../../lib/base/errors.ts";
import { HttpTransport } from "../../../lib/store/http.ts";
import { S3_SIDES, S3Client } from "../../../lib/store/s3.ts";
import { backupFiles } from "../../../lib/storage/backup.ts";
import { heldFiles } from "../../../lib/storage/blobs.ts";
import type { StorageCatalog } from "../../../lib/storage/catalog.ts";
import { stallServer, within } from "../../support/stall.ts";

const whole = new Uint8Array(3 << 20).map((_, i) => (i * 131 + 17) & 0xff);
const md5 = createHash("md5").update(whole).digest("hex");
const sha256 = createHash("sha256").update(whole).digest("hex");

const catalog: StorageCatalog = {
  buckets: [{
    id: "b",
    name: "b",
    public: false,
    fileSizeLimit: null,
    allowedMimeTypes: null,
    owner: null,
    ownerId: null,
  }],
  objects: [{
    bucket: "b",
    name: "dir/file.bin",
    size: whole.length,
    etag: `"${md5}"`,
    contentType: "application/octet-stream",
    cacheControl: null,
    userMetadata: null,
    owner: null,
    ownerId: null,
  }],
};

async function run(stalls: number, retries: number) {
  const srv = stallServer((_req, n) => ({
    status: 200,
    headers: { etag: `"${md5}"` },
    body: whole,
    ...(n < stalls ? { stallAfter: whole.length / 2 } : {}),
  }));
  const transport = new HttpTransport({ idleTimeoutMs: 500 });
  const root = await Deno.makeTempDir();
  const holder = join(root, ".holder");
  await Deno.mkdir(holder);
  const logs: string[] = [];
  try {
    const s3 = new S3Client({
      endpoint: `http://127.0.0.1:${srv.port}/storage/v1/s3`,
      region: "us-east-1",
      accessKeyId: "stall-test-key-id",
      secretAccessKey: "stall-test-secret",
      ...S3_SIDES.source,
    }, { retries: 0, transport });
    const result = await within(
      backupFiles(catalog, {
        s3,
        root,
        holder,
        jobs: 1,
        retries,
        maxFileSize: 1 << 30,
        log: (l) => logs.push(l),
      }).then((r) => ({ ok: r }), (e: unknown) => ({ error: e })),
      60_000,
      "backupFiles",
    );
    const held = [...Deno.readDirSync(holder)].map((e) => e.name);
    // a finished download waits in the holder under its name, to be linked into the store
    const stored = await Deno.readFile(join(holder, heldFiles({ sha256 })[0])).catch(() => undefined);
    return { result, logs, held, stored, requests: srv.seen.length };
  } finally {
    transport.close();
    await srv.close();
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("a Storage download whose body stalls halfway is fetched again from the start, and the whole second one is kept", async () => {
  const { result, logs, held, stored, requests } = await run(1, 1);
  assert("ok" in result, `the backup failed: ${"error" in result ? result.error : ""}`);
  assertEquals(result.ok.summary.downloaded, { files: 1, bytes: whole.length });
  assertEquals(result.ok.map.objects.map((o) => o.sha256), [sha256]);
  assertEquals(requests, 2);
  assert(logs.some((l) => l.includes("download of b/dir/file.bin broke off; retry 1/1")), logs.join("\n"));
  assert(stored, "the download is held");
  assertEquals(createHash("sha256").update(stored).digest("hex"), sha256);
  assertEquals(held, [sha256], "nothing of the stalled download is left in the holder");
});

Deno.test("a Storage download that stalls on every attempt fails the backup with the stall, nothing half-written kept", async () => {
  const { result, held, stored, requests } = await run(2, 1);
  assert("error" in result, "the backup failed");
  const e = result.error;
  assert(e instanceof BackupError, String(e));
  assert(
    /download of b\/dir\/file\.bin from .* broke off 2 time\(s\): the answer from .* stalled: no data for 0\.5 s/
      .test(e.message),
    e.message,
  );
  assertEquals(requests, 2);
  assertEquals(stored, undefined);
  assertEquals(held, []);
});
