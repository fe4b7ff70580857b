/**
 * The test harness itself: a new Supabase project (Supabase's migrations on PostgreSQL 17) with the
 * real Storage server over it answers the REST API, and its rows land in the project's `storage`
 * schema, where a backup reads them. And the pure parts of its build recipe (dev/storageenv.ts).
 * @module
 */
import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import {
  expectedStorageMarker,
  patchLockfile,
  patchPackageJson,
  PG_BOSS_VERSION,
  storageMarkerMatches,
  treeDigest,
} from "../dev/storageenv.ts";
import { startProject } from "./support/storage.ts";
import { S3_SIDES, S3Client } from "../lib/store/s3.ts";
import { BackupError } from "../lib/base/errors.ts";
import { createHash } from "node:crypto";

Deno.test("a new project's Storage server stores a file and its row", async () => {
  const p = await startProject();
  try {
    const auth = { authorization: `Bearer ${p.storage.serviceKey}` };
    let r = await fetch(`${p.storage.url}/bucket`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ id: "docs", name: "docs", public: true, file_size_limit: 1000 }),
    });
    assertEquals(r.status, 200, await r.text());
    r = await fetch(`${p.storage.url}/object/docs/a%20folder/hello.txt`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain", "x-metadata": btoa(JSON.stringify({ k: "v" })) },
      body: "hello",
    });
    assertEquals(r.status, 200, await r.text());
    const row = await p.cluster.sql(
      `select bucket_id, name, metadata->>'size', metadata->>'eTag', user_metadata::text from storage.objects`,
      { db: p.db },
    );
    assertEquals(row.trim(), `docs|a folder/hello.txt|5|"5d41402abc4b2a76b9719d911017c592"|{"k": "v"}`);
    const bucket = await p.cluster.sql(`select public, file_size_limit from storage.buckets`, { db: p.db });
    assertEquals(bucket.trim(), "t|1000");
    r = await fetch(`${p.storage.url}/object/public/docs/a%20folder/hello.txt`);
    assertEquals(await r.text(), "hello");
    ok(p.dbUrl.includes("postgres:"), "the project URL logs in as postgres");
  } finally {
    await p.stop();
  }
});

Deno.test("the S3 client (its own SigV4 signer) streams odd names both ways; refused keys and a dead endpoint are exit 2", async () => {
  const p = await startProject();
  try {
    const settings = {
      endpoint: p.storage.endpoint,
      region: p.storage.region,
      accessKeyId: p.storage.accessKeyId,
      secretAccessKey: p.storage.secretAccessKey,
      ...S3_SIDES.source,
    };
    const s3 = new S3Client(settings, { retries: 1 });
    assertEquals(await s3.listBuckets(), []);
    await s3.createBucket("b1", true);
    assertEquals(await s3.listBuckets(), ["b1"]);
    const names = ["a b/c(1).txt", "x!'*&$@=;:+,?.bin", "deep/er/still/f.txt", "empty"];
    for (const name of names) {
      const bytes = name === "empty" ? new Uint8Array(0) : new TextEncoder().encode(`bytes of ${name}`);
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      const md5 = createHash("md5").update(bytes).digest("hex");
      const etag = await s3.put("b1", name, () => Promise.resolve(new Blob([bytes]).stream()), {
        size: bytes.length,
        sha256,
        contentType: "text/x-test",
        cacheControl: "max-age=7",
        metadata: { who: "me" },
      });
      assertEquals(etag, `"${md5}"`, name);
      const head = await s3.head("b1", name);
      assertEquals([head?.etag, head?.contentType, head?.cacheControl, head?.metadata], [
        `"${md5}"`,
        "text/x-test",
        "max-age=7",
        { who: "me" },
      ]);
      const got = await s3.get("b1", name);
      assertEquals(new Uint8Array(await new Response(got!.body).arrayBuffer()), bytes, name);
    }
    const rows = await p.cluster.sql(`select name from storage.objects order by name collate "C"`, {
      db: p.db,
    });
    assertEquals(rows.trim().split("\n"), [...names].sort());
    assertEquals(await s3.head("b1", "nope"), undefined);
    assertEquals(await s3.get("b1", "nope"), undefined);
    const refused = await new S3Client({ ...settings, secretAccessKey: "not-the-secret" }, { retries: 1 })
      .listBuckets().catch((e) => e);
    ok(
      refused instanceof BackupError && refused.exitCode === 2 && /refused the S3 keys/.test(refused.message),
    );
    const dead = await new S3Client({ ...settings, endpoint: "http://127.0.0.1:9/s3" }, { retries: 1 })
      .listBuckets().catch((e) => e);
    ok(dead instanceof BackupError && dead.exitCode === 2 && /cannot reach/.test(dead.message), String(dead));
    ok(
      !refused.message.includes(settings.accessKeyId) && !String(refused.hint).includes(settings.accessKeyId),
    );
  } finally {
    await p.stop();
  }
});

Deno.test("patchPackageJson takes pg-boss from the registry and keeps the rest", () => {
  const out = JSON.parse(patchPackageJson(JSON.stringify({
    name: "supa-storage",
    dependencies: { "pg-boss": "github:supabase/pg-boss#feat/exactly_once", pg: "^8" },
  })));
  assertEquals(out.dependencies, { "pg-boss": PG_BOSS_VERSION, pg: "^8" });
  throws(() => patchPackageJson(JSON.stringify({ dependencies: {} })), /no pg-boss/);
});

Deno.test("patchLockfile points the root at the release and drops the GitHub entries", () => {
  const out = JSON.parse(patchLockfile(JSON.stringify({
    lockfileVersion: 2,
    packages: {
      "": { dependencies: { "pg-boss": "github:supabase/pg-boss#x", pg: "^8" } },
      "node_modules/pg-boss": {
        version: "10.3.2",
        resolved: "git+ssh://git@github.com/supabase/pg-boss.git#89b6",
      },
      "node_modules/pg": { version: "8.16.0" },
    },
    dependencies: { "pg-boss": { version: "git+ssh://…" }, pg: { version: "8.16.0" } },
  })));
  assertEquals(out.packages[""].dependencies, { "pg-boss": PG_BOSS_VERSION, pg: "^8" });
  assertEquals(Object.keys(out.packages), ["", "node_modules/pg"]);
  assertEquals(Object.keys(out.dependencies), ["pg"]);
  throws(() => patchLockfile(JSON.stringify({ packages: {} })), /no root package/);
});

Deno.test("treeDigest depends on paths and contents, not on their order", () => {
  const a = [{ path: "b/x.ts", sha256: "11" }, { path: "a.json", sha256: "22" }];
  assertEquals(treeDigest(a), treeDigest([...a].reverse()));
  ok(treeDigest(a) !== treeDigest([{ ...a[0], sha256: "12" }, a[1]]));
  ok(treeDigest(a) !== treeDigest([{ ...a[0], path: "c/x.ts" }, a[1]]));
  // sha256 of "a.json NUL 22 LF b/x.ts NUL 11 LF", computed independently
  assertEquals(treeDigest(a), "7959ad87ba111e8793741e4d972ca4890c88dcf09caf911565b7324fedf814a3");
});

Deno.test("the build marker matches only the current recipe", () => {
  ok(storageMarkerMatches(JSON.stringify(expectedStorageMarker())));
  ok(!storageMarkerMatches(JSON.stringify({ ...expectedStorageMarker(), commit: "0000" })));
  ok(!storageMarkerMatches("not json"));
  ok(!storageMarkerMatches(undefined));
});
