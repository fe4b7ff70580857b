/**
 * `--store s3://…` on a real S3 server: the Supabase Storage server's S3 protocol (what a Supabase
 * project exposes as its S3 endpoint) as the target, a PostgreSQL 17 source. The object store
 * itself (prefixes, listing page by page, multipart uploads, what the server does with
 * conditional writes), then the store matrix of tests/support/stores.ts. One Storage server for
 * the file.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createHash } from "node:crypto";
import { startProject, type StorageProject } from "./support/storage.ts";
import { S3_SIDES, S3Client } from "../lib/store/s3.ts";
import { S3ObjectStore } from "../lib/store/s3store.ts";
import { openStore, parseStoreUrl } from "../lib/store/remote.ts";
import { type StoreFixture, storeMatrix } from "./support/stores.ts";
import { objectStoreContract } from "./support/object_contract.ts";

let shared: Promise<StorageProject> | undefined;
/** The file's one Storage server, with a bucket `backups`. */
function project(): Promise<StorageProject> {
  shared ??= (async () => {
    const p = await startProject();
    await client(p).createBucket("backups", false);
    return p;
  })();
  return shared;
}

function client(p: StorageProject): S3Client {
  const s = p.storage;
  return new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    accessKeyId: s.accessKeyId,
    secretAccessKey: s.secretAccessKey,
    ...S3_SIDES.source,
  }, { retries: 2 });
}

let prefixes = 0;

Deno.test({
  name: "S3ObjectStore on the Supabase Storage server: prefix, pages, multipart, conditions",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const p = await project();
    const store = new S3ObjectStore(client(p), "backups", "unit/a b(1)", {
      multipartAbove: 6 << 20,
      partSize: 5 << 20,
    });
    await t.step("put, head, get and delete under a prefix with spaces and parentheses", async () => {
      const r = await store.put("x/y z!.txt", { bytes: new TextEncoder().encode("hello") });
      assert(r.ok);
      const h = await store.head("x/y z!.txt");
      assertEquals([h?.size, h?.etag], [5, createHash("md5").update("hello").digest("hex")]);
      assertEquals(await new Response(await store.get("x/y z!.txt")).text(), "hello");
      assertEquals(await store.head("nope"), undefined);
      assertEquals(await store.get("nope"), undefined);
      await store.delete("x/y z!.txt");
      await store.delete("x/y z!.txt"); // already gone: no error
      assertEquals(await store.head("x/y z!.txt"), undefined);
    });
    await t.step("list strips the prefix, keeps key order and follows continuation tokens", async () => {
      const names = Array.from({ length: 7 }, (_, i) => `l/${String(i).padStart(2, "0")}`);
      for (const n of names) await store.put(n, { bytes: new Uint8Array([1]) });
      const small = new S3ObjectStore(client(p), "backups", "unit/a b(1)", { pageSize: 3 });
      const got: string[] = [];
      for await (const o of small.list("l/")) got.push(o.key);
      assertEquals(got, names);
      for (const n of names) await store.delete(n);
    });
    await t.step("a file above the threshold goes in parts read by range, and reads back whole", async () => {
      const dir = await Deno.makeTempDir();
      const bytes = new Uint8Array(13 << 20).map((_, i) => (i * 7919) & 0xff);
      await Deno.writeFile(`${dir}/big`, bytes);
      const sha = createHash("sha256").update(bytes).digest("hex");
      const r = await store.put("big", { path: `${dir}/big`, size: bytes.length }, { sha256: sha });
      assert(r.ok);
      const back = new Uint8Array(await new Response(await store.get("big")).arrayBuffer());
      assertEquals(createHash("sha256").update(back).digest("hex"), sha);
      assertEquals((await store.head("big"))?.size, bytes.length);
      await store.delete("big");
      await Deno.remove(dir, { recursive: true });
    });
    await t.step(
      "the Storage server ignores If-None-Match on PUT (so the backup store never relies on it)",
      async () => {
        await store.put("cond", { bytes: new TextEncoder().encode("one") });
        const r = await store.put("cond", { bytes: new TextEncoder().encode("two") }, { ifAbsent: true });
        // AWS S3 and R2 answer 412 here; this server overwrites
        assert(r.ok, "the server overwrote the object");
        assertEquals(await new Response(await store.get("cond")).text(), "two");
        await store.delete("cond");
      },
    );
  },
});

/** The keys the Storage server accepts (its object-name rule: ASCII word characters and some punctuation). */
const SUPABASE_KEY = /^[\w/!\-.*'() &$@=;:+,?]*$/;

Deno.test({
  name: "S3ObjectStore passes the object-store contract on the Supabase Storage server",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const p = await project();
    const s = p.storage;
    await objectStoreContract(t, {
      port: Number(new URL(s.url).port),
      partSize: 5 << 20,
      conditions: "ignored",
      acceptsKey: (k) => SUPABASE_KEY.test(k),
      make: (o) =>
        new S3ObjectStore(
          new S3Client({
            endpoint: o.port ? `http://127.0.0.1:${o.port}/s3` : s.endpoint,
            region: s.region,
            accessKeyId: s.accessKeyId,
            secretAccessKey: s.secretAccessKey,
            ...S3_SIDES.source,
          }, { retries: o.retries, log: o.log }),
          "backups",
          `contract-${++prefixes}`,
          { pageSize: o.pageSize, partSize: o.partSize, multipartAbove: o.partSize },
        ),
    });
  },
});

storeMatrix(async () => {
  const p = await project();
  const s = p.storage;
  const env = {
    AWS_ACCESS_KEY_ID: s.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
    AWS_REGION: s.region,
    AWS_ENDPOINT_URL_S3: s.endpoint,
  };
  const fixture: StoreFixture & { stop(): Promise<void> } = {
    name: "s3",
    url: () => `s3://backups/matrix-${Deno.pid}-${++prefixes}`,
    env,
    port: Number(new URL(s.url).port),
    endpointVia: (port) => ["--store-endpoint", `http://127.0.0.1:${port}/s3`],
    open: (url) => openStore(parseStoreUrl(url, "test"), { env, retries: 2 }),
    stop: async () => {
      await p.stop();
    },
  };
  return fixture;
});

Deno.test("bad --store input: one error and hint, exit 2, nothing sent or written, no key shown", async () => {
  const { runCli } = await import("./support/cli.ts");
  const keys = { AWS_ACCESS_KEY_ID: "AKIDSHOWNNEVER", AWS_SECRET_ACCESS_KEY: "s3cr3t-never-shown" };
  const cases: [string[], Record<string, string>, RegExp][] = [
    [
      ["list", "--store", "gs://b/p"],
      keys,
      /^error: --store 'gs:\/\/b\/p': the scheme must be s3:\/\/ or azblob:\/\//,
    ],
    [
      ["list"],
      { ...keys, BACKUP_STORE: "s3://bk/../p" },
      /^error: \$BACKUP_STORE 's3:\/\/bk\/\.\.\/p': the prefix/,
    ],
    [
      ["verify", "--store", "s3://bucket/p"],
      { HOME: "/nonexistent" },
      /^error: --store s3:\/\/… needs S3 keys/,
    ],
    [
      ["backup", "--store", "s3://bucket/p", "--commit", "--db-url", "postgresql://u@h/d"],
      keys,
      /^error: --commit cannot be combined with --store/,
    ],
    [
      ["list", "--store", "s3://bucket/p", "--out", "/tmp/x"],
      keys,
      /^error: --out and --store exclude each other/,
    ],
    [["list", "--store-endpoint", "http://127.0.0.1:1"], keys, /^error: --store-endpoint needs --store/],
    [
      ["list", "--store", "azblob://container/p"],
      keys,
      /^error: azblob:\/\/ needs Azure Storage credentials$/,
    ],
  ];
  for (const [args, env, re] of cases) {
    const r = await runCli(args, env);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert(re.test(lines[0]), `${args.join(" ")}: ${r.stderr}`);
    assert(lines[1]?.startsWith("hint: "), r.stderr);
    assertEquals(lines.length, 2, r.stderr);
    assert(!r.stderr.includes("AKIDSHOWNNEVER") && !r.stderr.includes("s3cr3t"), r.stderr);
  }
});
