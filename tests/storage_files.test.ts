/**
 * Storage files end to end, against the real Supabase Storage server over new Supabase projects
 * (tests/support/storage.ts), through the real CLI: a few hundred files in two buckets (empty, one
 * byte, a few MB, odd names, nested folders), uploaded through the S3 protocol and the REST API;
 * `backup --storage` saves every file and its metadata, a second backup downloads nothing, changes
 * between backups download only new bytes, a file replaced during the run is reported, and bad keys,
 * a wrong endpoint and a server that goes away fail cleanly.
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  PROJECT_PASSWORD,
  restCreateBucket,
  restDelete,
  restGet,
  restPut,
  s3Put,
  startProject,
  type StorageProject,
} from "./support/storage.ts";
import { type CliResult, listFiles, PLAIN_PATH, runCli, spawnCli } from "./support/cli.ts";
import { type Proxy, startProxy } from "./support/proxy.ts";
import { encodeKey } from "../lib/store/s3.ts";
import { installFakeAz } from "./support/fake_az.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import type { StorageMap } from "../lib/storage/map.ts";
import { blobFiles } from "../lib/storage/blobs.ts";
import { STORE_LOCK } from "../lib/store/staging.ts";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { Buffer } from "node:buffer";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Deterministic bytes: `size` bytes from `seed`. */
function bytesOf(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** One file of the fixture. */
interface Seeded {
  bucket: string;
  name: string;
  bytes: Uint8Array;
  via: "s3" | "rest";
}

/** Names Storage accepts, with every kind of character it allows. */
const ODD_NAMES = [
  "a b.txt",
  "paren (1).txt",
  "x!'*&$@=;:+,?.dat",
  "deep/er/still/deeper/f.bin",
  "dots.in.name..txt",
  "under_score-dash.txt",
  "spaces  twice/ and trailing .txt",
];

/** Uploads the fixture: about 300 files in two buckets, half through each protocol. */
async function seed(p: StorageProject): Promise<Seeded[]> {
  await restCreateBucket(p.storage, {
    id: "photos",
    public: true,
    file_size_limit: 20 * 1024 * 1024,
    allowed_mime_types: ["image/png", "text/plain", "application/octet-stream", "text/x-odd"],
  });
  await restCreateBucket(p.storage, { id: "docs" });
  // uploads as an authenticated user need a policy on storage.objects (as the project owner adds one)
  await p.cluster.sql(
    `create policy "tests can upload" on storage.objects for all to authenticated using (true) with check (true)`,
    { db: p.db },
  );
  const files: Seeded[] = [];
  for (let i = 0; i < 280; i++) {
    files.push({
      bucket: i % 2 ? "docs" : "photos",
      name: `folder ${i % 7}/sub (${i % 3})/file-${i}.txt`,
      bytes: bytesOf(i + 1, (i * 37) % 5000),
      via: i % 2 ? "rest" : "s3",
    });
  }
  ODD_NAMES.forEach((name, i) =>
    files.push({ bucket: "docs", name, bytes: bytesOf(1000 + i, 100 + i), via: i % 2 ? "s3" : "rest" })
  );
  files.push({ bucket: "docs", name: "empty", bytes: new Uint8Array(0), via: "s3" });
  files.push({ bucket: "photos", name: "one-byte", bytes: new Uint8Array([7]), via: "rest" });
  files.push({ bucket: "photos", name: "big/three-mb.bin", bytes: bytesOf(3, 3 * 1024 * 1024), via: "s3" });
  files.push({
    bucket: "docs",
    name: "big/five-mb.bin",
    bytes: bytesOf(5, 5 * 1024 * 1024 + 17),
    via: "rest",
  });
  const owner = "8d0fdcd1-4c2e-4e0b-9d6e-2f1f1c2a3b4c";
  let n = 0;
  const queue = [...files];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const k = n++;
      if (f.via === "s3") {
        await s3Put(p.storage, f.bucket, f.name, f.bytes, {
          contentType: k % 3 ? "application/octet-stream" : "text/plain",
          ...(k % 4 === 0 ? { cacheControl: "max-age=3600" } : {}),
          ...(k % 5 === 0 ? { metadata: { source: "s3", index: String(k) } } : {}),
        });
      } else {
        await restPut(p.storage, f.bucket, f.name, f.bytes, {
          contentType: k % 3 ? "text/x-odd" : "text/plain",
          cacheControl: `max-age=${k}`,
          metadata: { source: "rest", index: k, nested: { list: [1, "two"], flag: k % 2 === 0 } },
          ...(k % 6 === 0 ? { jwt: p.storage.userKey(owner) } : {}),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return files;
}

/** The source project's rows as the map should hold them, by bucket/name. */
async function sourceRows(p: StorageProject): Promise<Map<string, Record<string, unknown>>> {
  const text = await p.cluster.sql(
    `select json_build_object('bucket', bucket_id, 'name', name, 'size', (metadata->>'size')::bigint,
       'etag', metadata->>'eTag', 'contentType', metadata->>'mimetype', 'cacheControl', metadata->>'cacheControl',
       'userMetadata', user_metadata, 'owner', owner, 'ownerId', owner_id)
     from storage.objects order by bucket_id, name`,
    { db: p.db },
  );
  const out = new Map<string, Record<string, unknown>>();
  for (const line of text.trim().split("\n").filter(Boolean)) {
    const r = JSON.parse(line);
    out.set(`${r.bucket}/${r.name}`, r);
  }
  return out;
}

function s3Env(p: StorageProject, prefix = "SUPABASE_S3"): Record<string, string> {
  return {
    [`${prefix}_ENDPOINT`]: p.storage.endpoint,
    [`${prefix}_REGION`]: p.storage.region,
    [`${prefix}_ACCESS_KEY_ID`]: p.storage.accessKeyId,
    [`${prefix}_SECRET_ACCESS_KEY`]: p.storage.secretAccessKey,
  };
}

async function readLatest(out: string): Promise<{ manifest: Manifest; map: StorageMap }> {
  const manifest = JSON.parse(await Deno.readTextFile(join(out, "latest", "manifest.json"))) as Manifest;
  const map = JSON.parse(await Deno.readTextFile(join(out, "latest", manifest.storage!.map))) as StorageMap;
  return { manifest, map };
}

let project: Promise<{ p: StorageProject; files: Seeded[] }> | undefined;
function source() {
  project ??= (async () => {
    const p = await startProject();
    return { p, files: await seed(p) };
  })();
  return project;
}

/**
 * `backup --storage` of the project. Only the public schema's dump unless `full` (the Storage rows
 * are read from the database either way; the tests that look at the database backup, or need the
 * time a full dump takes, ask for it).
 */
function backupArgs(p: StorageProject, out: string, extra: string[] = [], full = false): string[] {
  return [
    "backup",
    "--db-url",
    p.dbUrl,
    "--out",
    out,
    "--storage",
    "--max-file-size",
    "2MB",
    "--json",
    ...(full ? [] : ["--schema", "public"]),
    ...extra,
  ];
}

/** Runs {@link backupArgs} with the source's S3 keys. */
function backup(
  p: StorageProject,
  out: string,
  extra: string[] = [],
  env: Record<string, string> = {},
  full = false,
) {
  return runCli(backupArgs(p, out, extra, full), { ...s3Env(p), ...env });
}

Deno.test("backup --storage saves every file with its metadata; a second backup downloads nothing", async () => {
  const { p, files } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-backup-" });
  try {
    const r = await backup(p, out);
    assertEquals(r.code, 0, r.stderr);
    const { manifest, map } = await readLatest(out);
    const rows = await sourceRows(p);
    assertEquals(map.objects.length, files.length);
    assertEquals(rows.size, files.length);
    for (const f of files) {
      const key = `${f.bucket}/${f.name}`;
      const e = map.objects.find((o) => o.bucket === f.bucket && o.name === f.name);
      ok(e, `${key} is not in the map`);
      assertEquals(e.sha256, sha256(f.bytes), key);
      const { sha256: _s, parts: _p, ...meta } = e;
      assertEquals(meta, rows.get(key), key);
      // the blob holds exactly the file's bytes (cut into parts above --max-file-size)
      const blob = blobFiles(e).map((b) => Deno.readFileSync(join(out, "storage", "blobs", b)));
      ok(blob.every((b) => b.length <= 2_000_000), `${key}: a blob part is above --max-file-size`);
      assertEquals(sha256(new Uint8Array(blob.flatMap((b) => [...b]))), e.sha256, key);
    }
    ok(map.objects.some((o) => o.parts && o.parts >= 3), "the 5 MB file is cut into parts");
    ok(map.objects.some((o) => o.ownerId === "8d0fdcd1-4c2e-4e0b-9d6e-2f1f1c2a3b4c"), "owners are kept");
    assertEquals(
      map.buckets.map((b) => [b.id, b.public, b.fileSizeLimit, b.allowedMimeTypes?.length ?? null]),
      [
        ["docs", false, null, null],
        ["photos", true, 20 * 1024 * 1024, 4],
      ],
    );
    const st = manifest.storage!;
    const total = files.reduce((n, f) => n + f.bytes.length, 0);
    assertEquals([st.buckets, st.files, st.bytes, st.downloaded.bytes, st.reused.bytes], [
      2,
      files.length,
      total,
      total,
      0,
    ]);
    assertEquals(manifest.files[st.map].sha256, sha256(Deno.readFileSync(join(out, "latest", st.map))));
    const summary = JSON.parse(r.stdout)[0];
    assertEquals(summary.storage.downloaded, { files: files.length, bytes: total });

    const again = await backup(p, out);
    assertEquals(again.code, 0, again.stderr);
    const second = (await readLatest(out)).manifest.storage!;
    assertEquals([second.downloaded.files, second.downloaded.bytes, second.reused.bytes], [0, 0, total]);
    assertEquals(second.sincePrevious, { added: 0, changed: 0, removed: 0, unchanged: files.length });
    // the text summary and the step summary say the same
    const stepFile = join(out, "..", `${out.split("/").pop()}-summary.md`);
    const text = await runCli(backupArgs(p, out).filter((a) => a !== "--json"), {
      ...s3Env(p),
      GITHUB_STEP_SUMMARY: stepFile,
    });
    assertEquals(text.code, 0, text.stderr);
    const said = new RegExp(
      `2 bucket\\(s\\), ${files.length} file\\(s\\), [0-9.]+ [kM]?B; downloaded 0 \\(0 B\\), reused ${files.length} \\(`,
    );
    ok(new RegExp(`^storage +${said.source}`, "m").test(text.stdout), text.stdout);
    const md = await Deno.readTextFile(stepFile);
    await Deno.remove(stepFile);
    ok(new RegExp(`\\| storage \\| ${said.source}`).test(md), md);
    const list = await runCli(["list", "--out", out]);
    assertEquals(list.code, 0, list.stderr);
    ok(
      /FILES/.test(list.stdout) && new RegExp(`latest .* ${files.length} \\(`).test(list.stdout),
      list.stdout,
    );
    const listed = JSON.parse((await runCli(["list", "--out", out, "--json"])).stdout);
    assertEquals(listed.roots[0].backups[0].storage, {
      files: files.length,
      bytes: total,
      downloadedBytes: 0,
    });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("change one file, delete one, add one: the next backup downloads only the new bytes", async () => {
  const { p, files } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-incr-" });
  // this test changes the project: it works on files of its own
  const mine = [0, 1, 2].map((i) => ({ name: `incremental/f${i}.txt`, bytes: bytesOf(500 + i, 3000 + i) }));
  try {
    for (const f of mine) await restPut(p.storage, "docs", f.name, f.bytes, { contentType: "text/plain" });
    const first = await backup(p, out);
    assertEquals(first.code, 0, first.stderr);
    const changed = bytesOf(600, 4321);
    const added = bytesOf(601, 999);
    await restPut(p.storage, "docs", mine[0].name, changed, { contentType: "text/plain", upsert: true });
    await restDelete(p.storage, "docs", mine[1].name);
    await restPut(p.storage, "docs", "incremental/new.txt", added, { contentType: "text/plain" });
    const second = await backup(p, out);
    assertEquals(second.code, 0, second.stderr);
    const { manifest, map } = await readLatest(out);
    const st = manifest.storage!;
    assertEquals(st.downloaded, { files: 2, bytes: changed.length + added.length });
    assertEquals(st.sincePrevious, { added: 1, changed: 1, removed: 1, unchanged: files.length + 1 });
    const get = (name: string) => map.objects.find((o) => o.bucket === "docs" && o.name === name);
    assertEquals(get(mine[0].name)?.sha256, sha256(changed));
    assertEquals(get(mine[1].name), undefined);
    assertEquals(get("incremental/new.txt")?.sha256, sha256(added));
    assertEquals(get(mine[2].name)?.sha256, sha256(mine[2].bytes));
    // the archived first backup still has its blobs: both backups are complete
    const [archived] = await Array.fromAsync(Deno.readDir(join(out, "archive")));
    const old = JSON.parse(
      await Deno.readTextFile(join(out, "archive", archived.name, "storage-objects.json")),
    ) as StorageMap;
    for (const o of old.objects) {
      for (const b of blobFiles(o)) {
        ok(Deno.statSync(join(out, "storage", "blobs", b)).isFile, `${o.name}: ${b}`);
      }
    }
    assertEquals(old.objects.find((o) => o.name === mine[1].name)?.sha256, sha256(mine[1].bytes));
    // both backups restore exactly: the first, then the second over it with --clean
    await withTarget(async (t) => {
      const env = s3Env(t, "RESTORE_S3");
      const from = ["--out", out, "--storage-only", "--bucket", "docs"];
      const r1 = await restore([...from, "--from", archived.name], env);
      assertEquals(r1.code, 0, r1.stderr);
      assertEquals(sha256((await restGet(t.storage, "docs", mine[0].name))!), sha256(mine[0].bytes));
      assertEquals(sha256((await restGet(t.storage, "docs", mine[1].name))!), sha256(mine[1].bytes));
      assertEquals(await restGet(t.storage, "docs", "incremental/new.txt"), undefined);
      const kept = await restore(from, env);
      assertEquals(kept.code, 0, kept.stderr);
      ok(/1 left alone/.test(kept.stdout), `without --clean the changed file is left alone: ${kept.stdout}`);
      assertEquals(sha256((await restGet(t.storage, "docs", mine[0].name))!), sha256(mine[0].bytes));
      const r2 = await restore([...from, "--clean"], env);
      assertEquals(r2.code, 0, r2.stderr);
      assertEquals(sha256((await restGet(t.storage, "docs", mine[0].name))!), sha256(changed));
      assertEquals(sha256((await restGet(t.storage, "docs", "incremental/new.txt"))!), sha256(added));
    });
  } finally {
    await restDelete(p.storage, "docs", mine[0].name).catch(() => {});
    await restDelete(p.storage, "docs", mine[2].name).catch(() => {});
    await restDelete(p.storage, "docs", "incremental/new.txt").catch(() => {});
    await Deno.remove(out, { recursive: true });
  }
});

/**
 * A proxy to the project's Storage server, and the S3 endpoint through it (the server's own path
 * behind the proxy's port), for a run whose requests a test holds ({@link Proxy.holdRequest}).
 */
function storageProxy(p: StorageProject): { proxy: Proxy; env: Record<string, string> } {
  const proxy = startProxy(Number(new URL(p.storage.url).port));
  const endpoint = new URL(p.storage.endpoint);
  endpoint.port = String(proxy.port);
  return { proxy, env: { SUPABASE_S3_ENDPOINT: endpoint.href.replace(/\/$/, "") } };
}

/**
 * The start of the request line of a GET of the object `name` through {@link storageProxy} (of any
 * object of the bucket without `name`), for a hold.
 */
const getOf = (p: StorageProject, bucket: string, name?: string) => {
  const path = `${new URL(p.storage.endpoint).pathname}/${encodeKey(bucket)}/`;
  return name === undefined ? `GET ${path}` : `GET ${path}${encodeKey(name)} `;
};

/** Waits for `held`; fails with the run's output when the run ends first (it never made that request). */
async function untilHeld(held: Promise<void>, run: Promise<{ code: number; stderr: string }>): Promise<void> {
  const ended = run.then((r) => {
    throw new Error(`the run ended (exit ${r.code}) without the request the test holds:\n${r.stderr}`);
  });
  ended.catch(() => {}); // raced below; once held, the run's end is awaited by the caller
  await Promise.race([held, ended]);
}

Deno.test("a file replaced after the snapshot, before its download, is reported, not saved under the old row", async () => {
  const { p } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-race-" });
  const name = "race/replaced.txt";
  // the run's GET of the file waits in the proxy until the file is replaced: the run read its rows
  // (in the snapshot) before any download, so the row is the old one and the bytes are the new ones
  const { proxy, env } = storageProxy(p);
  try {
    await restPut(p.storage, "docs", name, bytesOf(700, 2000), { contentType: "text/plain" });
    const hold = proxy.holdRequest(getOf(p, "docs", name));
    const running = backup(p, out, [], env, true);
    await untilHeld(hold.held, running);
    await restPut(p.storage, "docs", name, bytesOf(701, 2500), { contentType: "text/plain", upsert: true });
    hold.release();
    const r = await running;
    assertEquals(r.code, 0, r.stderr);
    ok(r.stderr.includes(`docs/${name} changed after the snapshot`), r.stderr);
    const { manifest, map } = await readLatest(out);
    assertEquals(manifest.storage!.changed, [`docs/${name}`]);
    assertEquals(map.objects.find((o) => o.name === name), undefined);
    // the row from the snapshot is in the database backup, with the old size
    const rows = await Deno.readTextFile(join(out, "latest", "storage", "tables", "objects", "data.sql"));
    ok(rows.includes(name), "the row is in the database backup");
  } finally {
    await proxy.close();
    await restDelete(p.storage, "docs", name).catch(() => {});
    await Deno.remove(out, { recursive: true });
  }
});

/** A port nothing listens on (it was free a moment ago). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Every file under `dir` as text, for checking that no secret was written. */
async function allText(dir: string): Promise<string> {
  let text = "";
  for (const f of await listFiles(dir)) text += new TextDecoder().decode(await Deno.readFile(join(dir, f)));
  return text;
}

Deno.test("wrong keys, a wrong endpoint, a server that goes away: clean failures, latest/ untouched, no key shown", async () => {
  const { p } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-bad-" });
  try {
    const good = await backup(p, out, ["--bucket", "photos"]);
    assertEquals(good.code, 0, good.stderr);
    const before = await Deno.readTextFile(join(out, "latest", "manifest.json"));
    const secret = p.storage.secretAccessKey;
    const cases: [string, Record<string, string>, RegExp][] = [
      ["wrong secret", { SUPABASE_S3_SECRET_ACCESS_KEY: "0".repeat(64) }, /refused the S3 keys/],
      ["wrong key id", { SUPABASE_S3_ACCESS_KEY_ID: "f".repeat(32) }, /refused the S3 keys/],
      ["wrong endpoint", { SUPABASE_S3_ENDPOINT: `${p.storage.url}/not-s3` }, /is not an S3 endpoint/],
      [
        "no server",
        { SUPABASE_S3_ENDPOINT: `http://127.0.0.1:${closedPort()}/s3` },
        /cannot reach the S3 endpoint/,
      ],
      ["no secret", { SUPABASE_S3_SECRET_ACCESS_KEY: "" }, /needs the S3 secret access key/],
    ];
    for (const [what, env, message] of cases) {
      const r = await backup(p, out, ["--retries", "1"], env);
      assertEquals(r.code, 2, `${what}: ${r.stderr}`);
      // one error line and one hint, last (retry notices may come before them)
      const lines = r.stderr.trim().split("\n");
      assertEquals(lines.filter((l) => l.startsWith("error:")).length, 1, `${what}: ${r.stderr}`);
      const [error, hint] = lines.slice(-2);
      ok(error.startsWith("error: ") && message.test(error), `${what}: ${error}`);
      ok(hint.startsWith("hint: "), `${what}: ${hint}`);
      ok(!(r.stdout + r.stderr).includes(secret) && !(r.stdout + r.stderr).includes(PROJECT_PASSWORD), what);
      assertEquals(
        await Deno.readTextFile(join(out, "latest", "manifest.json")),
        before,
        `${what}: latest/ changed`,
      );
    }
    // no pg_dump new enough (only Debian's 15 on PATH, no cache): found out while the first files
    // download, and the run fails with its error, leaving nothing of it in the root
    const bare = await Deno.makeTempDir({ prefix: "storage-no-pg-" });
    const rootBefore = await listFiles(out);
    const noPg = await runCli(backupArgs(p, out, ["--retries", "1"]), { ...s3Env(p), HOME: bare }, {
      cwd: bare,
    });
    await Deno.remove(bare, { recursive: true });
    ok(noPg.code !== 0, noPg.stderr);
    const noPgLines = noPg.stderr.trim().split("\n");
    assertEquals(noPgLines.filter((l) => l.startsWith("error:")).length, 1, noPg.stderr);
    ok(/^error: no pg_dump 17 or newer found/.test(noPgLines.at(-2)!), noPg.stderr);
    ok(noPgLines.at(-1)!.startsWith("hint: "), noPg.stderr);
    assertEquals(await listFiles(out), rootBefore, "a run without pg_dump left files in the root");
    // the server goes away after the snapshot, before the downloads: the run's first GET of a file
    // waits in a proxy while the server stops (the others may go on; the run cannot end without
    // that one). A server that is stopping may still answer (HTTP 503) before its port closes.
    const serverGone =
      /error: (cannot reach the S3 endpoint|download of .* broke off|S3 get .* failed \(HTTP 5\d\d)/;
    const gone = async (run: (env: Record<string, string>) => Promise<CliResult>, marker: string) => {
      const { proxy, env } = storageProxy(p);
      try {
        const hold = proxy.holdRequest(marker);
        const running = run(env);
        await untilHeld(hold.held, running);
        await p.storage.stopServer();
        hold.release();
        return await running;
      } finally {
        await proxy.close();
        await p.storage.startServer();
      }
    };
    // (photos/ is in latest/: the runs download the files of docs/ only)
    const r = await gone((env) => backup(p, out, ["--retries", "1"], env, true), getOf(p, "docs"));
    assertEquals(r.code, 1, r.stderr);
    ok(serverGone.test(r.stderr), r.stderr);
    ok(/hint: .*latest\/ is unchanged/.test(r.stderr), r.stderr);
    assertEquals(await Deno.readTextFile(join(out, "latest", "manifest.json")), before, "latest/ changed");
    // and in the middle of the downloads (one at a time: the files of docs/ before under_score-dash.txt
    // by name are downloaded when it waits in the proxy), with a step summary
    const summary = join(out, "..", `${out.split("/").pop()}-summary.md`);
    const m = await gone(
      (env) =>
        runCli(backupArgs(p, out, ["--retries", "1", "--jobs", "1"], true), {
          ...s3Env(p),
          ...env,
          GITHUB_STEP_SUMMARY: summary,
        }),
      getOf(p, "docs", "under_score-dash.txt"),
    );
    assertEquals(m.code, 1, m.stderr);
    assertEquals(m.stderr.split("\n").filter((l) => l.startsWith("error:")).length, 1, m.stderr);
    ok(serverGone.test(m.stderr), m.stderr);
    ok(/hint: .*latest\/ is unchanged/.test(m.stderr), m.stderr);
    assertEquals(await Deno.readTextFile(join(out, "latest", "manifest.json")), before, "latest/ changed");
    const failed = await Deno.readTextFile(summary);
    await Deno.remove(summary);
    ok(/failed/i.test(failed), failed);
    for (const text of [m.stdout + m.stderr, failed]) {
      ok(!text.includes(secret) && !text.includes(p.storage.accessKeyId) && !text.includes(PROJECT_PASSWORD));
    }
    assertEquals((await Array.fromAsync(Deno.readDir(out))).map((e) => e.name).sort(), [
      STORE_LOCK,
      "archive",
      "latest",
      "storage",
    ]);
    const everything = await allText(out);
    ok(
      !everything.includes(secret) && !everything.includes(p.storage.accessKeyId),
      "a key is in a backup file",
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("--commit commits the map and the blobs; prune sweeps blobs only removed archives used", async () => {
  const { p } = await source();
  const repo = await Deno.makeTempDir({ prefix: "storage-git-" });
  const out = join(repo, "backups");
  const git = async (...args: string[]) => {
    const r = await new Deno.Command("git", { args: ["-C", repo, ...args], stdout: "piped", stderr: "piped" })
      .output();
    if (!r.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
    return new TextDecoder().decode(r.stdout);
  };
  const kept = bytesOf(800, 1234), dropped = bytesOf(801, 4321);
  try {
    await git("init", "-q", "-b", "main");
    await restPut(p.storage, "docs", "gc/kept.txt", kept, { contentType: "text/plain" });
    await restPut(p.storage, "docs", "gc/dropped.txt", dropped, { contentType: "text/plain" });
    const gitEnv = {
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    };
    const first = await backup(p, out, ["--bucket", "docs", "--commit"], gitEnv);
    assertEquals(first.code, 0, first.stderr);
    const tracked = (await git("ls-files")).split("\n");
    const blobOf = (b: Uint8Array) => `backups/storage/blobs/${sha256(b).slice(0, 2)}/${sha256(b)}`;
    ok(tracked.includes(blobOf(kept)) && tracked.includes(blobOf(dropped)), "blobs are committed");
    ok(tracked.includes("backups/latest/storage-objects.json"), "the map is committed");
    ok(!tracked.some((f) => f.includes(".staging")), "no staging folder is committed");
    await restDelete(p.storage, "docs", "gc/dropped.txt");
    const second = await backup(p, out, ["--bucket", "docs", "--commit"], gitEnv);
    assertEquals(second.code, 0, second.stderr);
    ok(Deno.statSync(join(repo, blobOf(dropped))).isFile, "the archive still needs the dropped file");
    const third = await backup(p, out, ["--bucket", "docs", "--commit"], gitEnv);
    assertEquals(third.code, 0, third.stderr);
    // no backup is running: the sweep does not wait for blobs to age
    const pruned = await runCli(["prune", "--out", out, "--keep-last", "1", "--commit"], gitEnv);
    assertEquals(pruned.code, 0, pruned.stderr);
    ok(
      !(await Deno.stat(join(repo, blobOf(dropped))).then(() => true, () => false)),
      "the dropped file's blob is swept",
    );
    ok(Deno.statSync(join(repo, blobOf(kept))).isFile, "latest's blobs stay");
    ok(!(await git("ls-files")).includes(blobOf(dropped)), "the sweep is committed");
    const v = await runCli(["verify", "--out", out]);
    assertEquals(v.code, 0, v.stdout + v.stderr);
  } finally {
    await restDelete(p.storage, "docs", "gc/kept.txt").catch(() => {});
    await Deno.remove(repo, { recursive: true });
  }
});

Deno.test("a sparse blobless clone sweeps by the maps of archives kept in git only", async () => {
  const { p } = await source();
  const tmp = await Deno.makeTempDir({ prefix: "storage-sparse-" });
  const bare = join(tmp, "bare.git"), work = join(tmp, "work"), fresh = join(tmp, "fresh");
  const gitEnv = {
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@example.com",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@example.com",
  };
  const git = async (dir: string, ...args: string[]) => {
    const r = await new Deno.Command("git", {
      args: ["-C", dir, ...args],
      env: gitEnv,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
    return new TextDecoder().decode(r.stdout);
  };
  const sparse = ["sparse-checkout", "set", "--no-cone", "/*", "!/backups/archive/"];
  const kept = bytesOf(810, 2345), old = bytesOf(811, 3456), mid = bytesOf(812, 4567);
  const blobOf = (b: Uint8Array) => `backups/storage/blobs/${sha256(b).slice(0, 2)}/${sha256(b)}`;
  try {
    await git(tmp, "init", "-q", "--bare", "-b", "main", bare);
    await git(tmp, "init", "-q", "-b", "main", work);
    await Deno.writeTextFile(join(work, "README.md"), "# backups\n");
    await git(work, "add", "README.md");
    await git(work, "commit", "-qm", "init");
    await git(work, "remote", "add", "origin", `file://${bare}`);
    await git(work, "push", "-q", "-u", "origin", "main");
    await git(work, ...sparse);
    const out = join(work, "backups");
    const push = async () => {
      const r = await backup(p, out, ["--bucket", "docs", "--push"], gitEnv);
      assertEquals(r.code, 0, r.stderr);
    };
    // archive 1 holds kept and old, archive 2 kept and mid, latest/ kept: both archives in git only
    await restPut(p.storage, "docs", "sparse/kept.txt", kept, { contentType: "text/plain" });
    await restPut(p.storage, "docs", "sparse/old.txt", old, { contentType: "text/plain" });
    await push();
    await restDelete(p.storage, "docs", "sparse/old.txt");
    await restPut(p.storage, "docs", "sparse/mid.txt", mid, { contentType: "text/plain" });
    await push();
    await restDelete(p.storage, "docs", "sparse/mid.txt");
    await push();
    const onDisk = await Array.fromAsync(Deno.readDir(join(out, "archive"))).catch(() => []);
    assertEquals(onDisk.map((e) => e.name), [], "the archives are in git only");
    // a fresh blobless sparse clone, as the central workflow makes it, prunes the oldest archive
    await git(tmp, "clone", "-q", "--filter=blob:none", "--no-checkout", `file://${bare}`, fresh);
    await git(fresh, ...sparse);
    await git(fresh, "checkout", "-q", "main");
    const freshOut = join(fresh, "backups");
    const archived = (await git(fresh, "ls-files", "backups/archive")).split("\n").filter((f) =>
      f.endsWith("/manifest.json")
    );
    assertEquals(archived.length, 2, archived.join(", "));
    const pruned = await runCli(["prune", "--out", freshOut, "--keep-last", "1", "--push"], gitEnv);
    assertEquals(pruned.code, 0, pruned.stderr);
    ok(!pruned.stderr.includes("unreferenced Storage files were kept"), pruned.stderr);
    ok(!(await exists(join(fresh, blobOf(old)))), "the blob only the pruned archive needed is swept");
    ok(await exists(join(fresh, blobOf(mid))), "the blob only the archive kept in git needs stays");
    ok(await exists(join(fresh, blobOf(kept))), "latest's blob stays");
    const tracked = await git(fresh, "ls-tree", "-r", "--name-only", "origin/main");
    ok(!tracked.includes(blobOf(old)), "the sweep is pushed");
    ok(tracked.includes(blobOf(mid)) && tracked.includes(blobOf(kept)), tracked);
  } finally {
    await restDelete(p.storage, "docs", "sparse/kept.txt").catch(() => {});
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("--storage with --vault reads the S3 keys from the same Key Vault; flags and variables win", async () => {
  const { p } = await source();
  const show = (
    vault: string,
    secret: string,
  ) => [
    "keyvault",
    "secret",
    "show",
    "--vault-name",
    vault,
    "--name",
    secret,
    "--query",
    "value",
    "-o",
    "tsv",
  ];
  const az = await installFakeAz({
    vaults: {
      "acme-kv": {
        secrets: {
          "supabase-db-url-prod": p.dbUrl,
          "supabase-s3-access-key-id-prod": p.storage.accessKeyId,
          "supabase-s3-secret-access-key-prod": p.storage.secretAccessKey,
        },
      },
      "half-kv": { secrets: { "supabase-db-url-prod": p.dbUrl, "supabase-s3-access-key-id-prod": "x" } },
    },
  });
  const tmp = await Deno.makeTempDir({ prefix: "storage-vault-" });
  const secrets = [p.storage.secretAccessKey, p.storage.accessKeyId, PROJECT_PASSWORD];
  const noSecret = (text: string, where: string) => {
    for (const k of secrets) ok(!text.includes(k), `${where} shows a secret (${k.slice(0, 3)}…)`);
  };
  const args = (vault: string, out: string) => [
    "backup",
    "--vault",
    vault,
    "--out",
    out,
    "--storage",
    "--bucket",
    "docs",
    "--schema",
    "public",
    "--json",
  ];
  const env = {
    PATH: `${az.dir}:${PLAIN_PATH}`,
    SUPABASE_S3_ENDPOINT: p.storage.endpoint,
    SUPABASE_S3_REGION: p.storage.region,
  };
  try {
    const out = join(tmp, "vault");
    const r = await runCli(args("acme-kv", out), env);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(await az.calls(), [
      show("acme-kv", "supabase-db-url-prod"),
      show("acme-kv", "supabase-s3-access-key-id-prod"),
      show("acme-kv", "supabase-s3-secret-access-key-prod"),
    ]);
    const { manifest } = await readLatest(join(out, "prod"));
    ok(manifest.storage!.files > 0 && manifest.storage!.downloaded.files === manifest.storage!.files);
    noSecret(r.stdout + r.stderr, "the output");
    for (const f of await listFiles(out)) noSecret(await Deno.readTextFile(join(out, f)), f);

    // a key missing from the vault: exit 1, one error and a hint naming the flag, nothing written
    const half = join(tmp, "half");
    const missing = await runCli(args("half-kv", half), env);
    assertEquals(missing.code, 1, missing.stderr);
    const lines = missing.stderr.trim().split("\n");
    ok(
      lines.some((l) =>
        l === "error: Key Vault secret 'supabase-s3-secret-access-key-prod' was not found in vault 'half-kv'"
      ),
      missing.stderr,
    );
    ok(
      lines.some((l) => l.startsWith("hint: ") && l.includes("--storage-secret-access-key")),
      missing.stderr,
    );
    assertEquals(await exists(join(half, "prod", "latest")), false, "nothing is written");
    noSecret(missing.stdout + missing.stderr, "the failed run's output");

    // keys given as variables win: only the connection string is read from the vault
    await Deno.writeTextFile(az.log, "");
    const given = await runCli(args("half-kv", join(tmp, "given")), { ...env, ...s3Env(p) });
    assertEquals(given.code, 0, given.stderr);
    assertEquals(await az.calls(), [show("half-kv", "supabase-db-url-prod")]);
  } finally {
    await az.cleanup();
    await Deno.remove(tmp, { recursive: true });
  }
});

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

Deno.test("a sweep while a backup runs deletes nothing that backup needs", async () => {
  const { p } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-sweep-" });
  const bucket = "sweep-race";
  const first = bytesOf(900, 10_000);
  const many = Array.from(
    { length: 40 },
    (_, i) => ({ name: `f-${i}.bin`, bytes: bytesOf(901 + i, 300_000) }),
  );
  try {
    await restCreateBucket(p.storage, { id: bucket });
    await restPut(p.storage, bucket, "seed.txt", bytesOf(899, 10), { contentType: "text/plain" });
    for (const n of [1, 2, 3]) {
      const r = await backup(p, out, ["--bucket", bucket]);
      assertEquals(r.code, 0, `backup ${n}: ${r.stderr}`);
    }
    // Blob of the file the next backup downloads first, in the store but referenced by no backup
    // (as when the archive that had it was pruned), and old: a run that finds it there keeps it
    // instead of its own download.
    const blob = join(out, "storage", "blobs", blobFiles({ sha256: sha256(first) })[0]);
    await Deno.mkdir(join(blob, ".."), { recursive: true });
    await Deno.writeFile(blob, first);
    const old = new Date(Date.now() - 24 * 3600_000);
    await Deno.utime(blob, old, old);
    await restPut(p.storage, bucket, "0-first.bin", first, { contentType: "application/octet-stream" });
    for (const f of many) await restPut(p.storage, bucket, f.name, f.bytes, { contentType: "text/plain" });
    // one file at a time, by name: when the GET of f-1.bin waits in the proxy, 0-first.bin is done
    // and the run relies on the store's blob
    const { proxy, env } = storageProxy(p);
    const hold = proxy.holdRequest(getOf(p, bucket, "f-1.bin"));
    const run = spawnCli(backupArgs(p, out, ["--bucket", bucket, "--jobs", "1"]), { ...s3Env(p), ...env });
    let r: CliResult;
    try {
      await untilHeld(hold.held, run.result);
      const pruned = await runCli(["prune", "--out", out, "--keep-last", "1"]);
      assertEquals(pruned.code, 0, pruned.stderr);
      ok(/removed 1\b/.test(pruned.stdout), pruned.stdout);
      ok(await exists(blob), "the sweep deleted a blob the running backup uses");
      ok(
        pruned.stderr.includes(
          "warning: unreferenced Storage files were kept: another backup of this root is running",
        ),
        pruned.stderr,
      );
    } finally {
      hold.release();
      r = await run.result;
      await proxy.close();
    }
    assertEquals(r.code, 0, r.stderr);
    const { map } = await readLatest(out);
    assertEquals(map.objects.find((o) => o.name === "0-first.bin")?.sha256, sha256(first));
    const v = await runCli(["verify", "--out", out]);
    assertEquals(v.code, 0, v.stdout + v.stderr);
    // with no backup running, the next prune sweeps: the archive's seed stays (latest has it too)
    const again = await runCli(["prune", "--out", out, "--keep-last", "1"]);
    assertEquals(again.code, 0, again.stderr);
    ok(!again.stderr.includes("warning"), again.stderr);
    const all = await runCli(["verify", "--all", "--out", out]);
    assertEquals(all.code, 0, all.stdout + all.stderr);
    ok(await exists(blob), "latest's blob was swept");
  } finally {
    for (const name of ["seed.txt", "0-first.bin", ...many.map((f) => f.name)]) {
      await restDelete(p.storage, bucket, name).catch(() => {});
    }
    await Deno.remove(out, { recursive: true });
  }
});

/**
 * Copies the blobs of a store (`names`: `<aa>/<sha256>`) into a run's holder: flat, as runs write
 * it, or with `nested` laid out like the store, as runs before the flat holder did. Returns the
 * copies' paths.
 */
async function copyBlobs(from: string, to: string, names: string[], nested = false): Promise<string[]> {
  const out: string[] = [];
  for (const n of names) {
    const dest = join(to, nested ? n : n.slice(3));
    await Deno.mkdir(join(dest, ".."), { recursive: true });
    await Deno.copyFile(join(from, n), dest);
    out.push(dest);
  }
  return out;
}

Deno.test("a backup a dead run left is put back only with its Storage files, hashed first", async () => {
  const { p } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-recover-" });
  const DEAD = "dead0000beef";
  try {
    // A dead run's leftovers, made from a real backup in another root: its complete backup
    // (.staging-<owner>), its downloads (.staging-<owner>-blobs-…, never linked into the store) and
    // its lock file, unlocked.
    const other = join(out, "..", `${out.split("/").pop()}-other`);
    const made = await backup(p, other, ["--bucket", "photos"]);
    assertEquals(made.code, 0, made.stderr);
    const names = await listFiles(join(other, "storage", "blobs"));
    const leave = async (root: string, damage: boolean) => {
      await Deno.mkdir(root, { recursive: true });
      await Deno.rename(join(other, "latest"), join(root, `.staging-${DEAD}`));
      const held = join(root, `.staging-${DEAD}-blobs-0badcafe`);
      // the damaged one as an older run left its downloads: in folders like the store's
      const copies = await copyBlobs(join(other, "storage", "blobs"), held, names, damage);
      if (damage) {
        const f = copies.find((c) => Deno.statSync(c).size > 10)!;
        const b = Deno.readFileSync(f);
        b[0] ^= 1;
        Deno.writeFileSync(f, b);
      }
      await Deno.writeTextFile(join(root, `.staging-${DEAD}.lock`), "{}\n");
    };
    // 1. intact: the next backup (without --storage even) puts it back with its files
    const root = join(out, "intact");
    await leave(root, false);
    const next = await runCli(["backup", "--db-url", p.dbUrl, "--out", root, "--schema", "public"]);
    assertEquals(next.code, 0, next.stderr);
    ok(/recovered a complete backup/.test(next.stderr), next.stderr);
    const v = await runCli(["verify", "--all", "--out", root]);
    assertEquals(v.code, 0, v.stdout + v.stderr);
    ok(/storage archive\/.*: \d+ blob\(s\) checked/.test(v.stdout), v.stdout);
    assertEquals(await listFiles(join(root, "storage", "blobs")), names);
    // 2. one of its downloads damaged: not put back, and said why
    const again = await backup(p, other, ["--bucket", "photos"]);
    assertEquals(again.code, 0, again.stderr);
    const damaged = join(out, "damaged");
    await leave(damaged, true);
    const r = await runCli(["backup", "--db-url", p.dbUrl, "--out", damaged, "--schema", "public"]);
    assertEquals(r.code, 0, r.stderr);
    ok(
      /warning: a backup left by an interrupted run \(created .*\) is not put back: the file photos\//.test(
        r.stderr,
      ),
      r.stderr,
    );
    const archived = await Array.fromAsync(Deno.readDir(join(damaged, "archive"))).catch(() => []);
    assertEquals(archived.length, 0, "the damaged backup is not archived");
    const m = JSON.parse(await Deno.readTextFile(join(damaged, "latest", "manifest.json"))) as Manifest;
    assertEquals(m.storage, undefined, "latest/ is the new backup, not the damaged one");
    const vd = await runCli(["verify", "--all", "--out", damaged]);
    assertEquals(vd.code, 0, vd.stdout + vd.stderr);
    const left = (await Array.fromAsync(Deno.readDir(damaged))).map((e) => e.name);
    assertEquals(left.filter((n) => n.startsWith(".staging-") && n !== STORE_LOCK), [], "leftovers stay");
    await Deno.remove(other, { recursive: true });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/** A project's rows as (bucket/name → metadata) and its buckets' settings, for comparing two projects. */
async function projectState(p: StorageProject) {
  const rows = await sourceRows(p);
  const buckets = await p.cluster.sql(
    `select json_build_object('id', id, 'public', public, 'limit', file_size_limit, 'mimes', allowed_mime_types)
     from storage.buckets order by id`,
    { db: p.db },
  );
  return { rows, buckets: buckets.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) };
}

let targets = 0;
async function withTarget<T>(fn: (t: StorageProject) => Promise<T>): Promise<T> {
  const t = await startProject();
  targets++;
  try {
    return await fn(t);
  } finally {
    await t.stop();
  }
}

function restore(args: string[], env: Record<string, string>) {
  return runCli(["restore", ...args], env);
}

Deno.test("restore --storage-only into a new project: every file's bytes and metadata, buckets' settings", async () => {
  const { p, files } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-restore-" });
  try {
    const b = await backup(p, out);
    assertEquals(b.code, 0, b.stderr);
    const want = await projectState(p);
    await withTarget(async (t) => {
      // no target keys: exit 2, even with the source's keys in the environment
      const none = await restore(["--out", out, "--storage-only", "--target-url", t.dbUrl], s3Env(p));
      assertEquals(none.code, 2, none.stderr);
      ok(
        /restore --storage needs the S3 endpoint: --target-storage-endpoint or \$RESTORE_S3_ENDPOINT/.test(
          none.stderr,
        ),
        none.stderr,
      );
      const env = s3Env(t, "RESTORE_S3");
      const dry = await restore(["--out", out, "--storage-only", "--dry-run"], env);
      assertEquals(dry.code, 0, dry.stderr);
      ok(
        /bucket docs: create/.test(dry.stdout) && new RegExp(`upload ${files.length} file`).test(dry.stdout),
        dry.stdout,
      );
      assertEquals((await projectState(t)).rows.size, 0, "the dry run uploaded something");

      const r = await restore(["--out", out, "--storage-only", "--target-url", t.dbUrl, "--json"], env);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(JSON.parse(r.stdout).storage.result.uploaded, files.length);
      const got = await projectState(t);
      assertEquals(got.buckets, want.buckets);
      assertEquals([...got.rows.keys()], [...want.rows.keys()]);
      for (const [key, row] of want.rows) assertEquals(got.rows.get(key), row, key);
      for (const f of files) {
        const bytes = await restGet(t.storage, f.bucket, f.name);
        ok(bytes && sha256(bytes) === sha256(f.bytes), `${f.bucket}/${f.name}: other bytes in the target`);
      }
      // again: everything is there, nothing is sent
      const again = await restore(["--out", out, "--storage-only", "--json"], env);
      assertEquals(again.code, 0, again.stderr);
      const res = JSON.parse(again.stdout).storage;
      assertEquals([res.upload, res.keep, res.result.uploaded], [0, files.length, 0]);
      ok(!(r.stdout + r.stderr + again.stderr).includes(t.storage.secretAccessKey), "a key was printed");
    });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("restore --storage: the database, then the files; rows and files agree in the new project", async () => {
  const { p, files } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-together-" });
  try {
    const b = await backup(p, out, [], {}, true);
    assertEquals(b.code, 0, b.stderr);
    await withTarget(async (t) => {
      // the database part: the Storage tables' rows (a new project's postgres may not write all of storage)
      const r = await restore([
        "--out",
        out,
        "--storage",
        "--data-only",
        "--table",
        "storage.buckets",
        "--table",
        "storage.objects",
        "--target-url",
        t.dbUrl,
      ], s3Env(t, "RESTORE_S3"));
      assertEquals(r.code, 0, r.stderr);
      ok(/restored Storage files: .*\d+ file\(s\) uploaded/.test(r.stdout), r.stdout);
      const want = await sourceRows(p);
      const got = await sourceRows(t);
      assertEquals([...got.keys()], [...want.keys()]);
      for (const [key, row] of want) assertEquals(got.get(key), row, key);
      for (const f of files) {
        const bytes = await restGet(t.storage, f.bucket, f.name);
        ok(
          bytes && sha256(bytes) === sha256(f.bytes),
          `${f.bucket}/${f.name}: the row is there, the file is not`,
        );
      }
    });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("verify checks every Storage blob: a changed or missing blob fails, naming it", async () => {
  const { p } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-verify-" });
  try {
    const b = await backup(p, out, ["--bucket", "photos"]);
    assertEquals(b.code, 0, b.stderr);
    const good = await runCli(["verify", "--out", out]);
    assertEquals(good.code, 0, good.stdout + good.stderr);
    ok(/storage latest: \d+ blob\(s\) checked/.test(good.stdout), good.stdout);
    const { map } = await readLatest(out);
    const [one, two] = map.objects.filter((o) => o.size > 10);
    const first = join(out, "storage", "blobs", blobFiles(one)[0]);
    const bytes = Deno.readFileSync(first);
    bytes[3] ^= 0xff;
    Deno.writeFileSync(first, bytes);
    Deno.removeSync(join(out, "storage", "blobs", blobFiles(two)[0]));
    const bad = await runCli(["verify", "--out", out]);
    assertEquals(bad.code, 1, bad.stdout + bad.stderr);
    ok(bad.stdout.includes(`checksum  storage/blobs/${blobFiles(one)[0]}: photos/${one.name}`), bad.stdout);
    ok(bad.stdout.includes(`missing   storage/blobs/${blobFiles(two)[0]}: photos/${two.name}`), bad.stdout);
    // and a restore refuses the damaged blob instead of uploading it
    await withTarget(async (t) => {
      const r = await restore(
        ["--out", out, "--storage-only", "--bucket", "photos", "--jobs", "1"],
        s3Env(t, "RESTORE_S3"),
      );
      assertEquals(r.code, 1, r.stderr);
      ok(
        /error: the blob of photos\/.* (does not match the backup's map|cannot be read)/.test(r.stderr),
        r.stderr,
      );
    });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("verify --drill restores the Storage files into scratch buckets, compares them and removes them", async () => {
  const { p, files } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-drill-" });
  const scratchDb = async () => {
    const name = `drill_${Deno.pid}_${crypto.randomUUID().slice(0, 8)}`;
    await p.cluster.sql(`create database "${name}"`);
    return p.cluster.url({ db: name });
  };
  try {
    // the whole database: a drill restores everything (catalog.sql's event triggers need extensions')
    const b = await backup(p, out, ["--bucket", "photos"], {}, true);
    assertEquals(b.code, 0, b.stderr);
    const photos = files.filter((f) => f.bucket === "photos").length;
    await withTarget(async (t) => {
      const env = s3Env(t, "RESTORE_S3");
      // without a Storage server: the database drill, and a line saying what the files need
      const plain = await runCli(["verify", "--out", out, "--drill", "--target-url", await scratchDb()]);
      assertEquals(plain.code, 0, plain.stdout + plain.stderr);
      ok(/\d+\/\d+ tables match/.test(plain.stdout), plain.stdout);
      ok(
        /Storage files not drilled: give a Storage server for scratch buckets/.test(plain.stdout),
        plain.stdout,
      );
      // only part of the settings: exit 2 before anything is written
      const part = await runCli(["verify", "--out", out, "--drill", "--target-url", await scratchDb()], {
        RESTORE_S3_ENDPOINT: t.storage.endpoint,
      });
      assertEquals(part.code, 2, part.stderr);
      ok(
        /error: restore --storage needs the region: --target-storage-region or \$RESTORE_S3_REGION/.test(
          part.stderr,
        ),
        part.stderr,
      );
      const r = await runCli(
        ["verify", "--out", out, "--drill", "--target-url", await scratchDb(), "--json"],
        env,
      );
      assertEquals(r.code, 0, r.stdout + r.stderr);
      const st = JSON.parse(r.stdout).storage;
      assertEquals([st.files, st.matched, st.mismatches, st.cleanup], [photos, photos, [], undefined]);
      ok(/drill: Storage files into scratch bucket\(s\) drill-[0-9a-f]{8}-1 on /.test(r.stderr), r.stderr);
      // the scratch buckets and their files are gone from the target
      assertEquals(
        (await t.cluster.sql(
          "select (select count(*) from storage.buckets) || ' ' || (select count(*) from storage.objects)",
          { db: t.db },
        )).trim(),
        "0 0",
      );
      const text = await runCli(["verify", "--out", out, "--drill", "--target-url", await scratchDb()], env);
      assertEquals(text.code, 0, text.stdout + text.stderr);
      ok(
        new RegExp(`${photos}/${photos} Storage files match .*removed after`).test(text.stdout),
        text.stdout,
      );
      ok(
        !(r.stdout + r.stderr + text.stdout + text.stderr).includes(t.storage.secretAccessKey),
        "a key was printed",
      );
    });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("--storage with several databases is refused: one set of keys names one project", async () => {
  const out = await Deno.makeTempDir({ prefix: "storage-envs-" });
  try {
    const env = {
      SUPABASE_DB_URL: "postgresql://postgres:pw@127.0.0.1:1/prod",
      SUPABASE_DB_URL_DEV: "postgresql://postgres:pw@127.0.0.1:1/dev",
      SUPABASE_S3_ENDPOINT: "https://x.storage.supabase.co/storage/v1/s3",
      SUPABASE_S3_REGION: "eu-central-1",
      SUPABASE_S3_ACCESS_KEY_ID: "id",
      SUPABASE_S3_SECRET_ACCESS_KEY: "secret-value",
    };
    const r = await runCli(["backup", "--out", out, "--env", "both", "--storage", "--yes"], env);
    assertEquals(r.code, 2, r.stderr);
    ok(
      /error: --storage backs up one project's files, and this run backs up 2 databases/.test(r.stderr),
      r.stderr,
    );
    assertEquals(await listFiles(out), []);
    // the config file's "storage": true is --storage
    const config = join(out, "..", `${out.split("/").pop()}.json`);
    await Deno.writeTextFile(config, JSON.stringify({ storage: true }));
    try {
      const c = await runCli(["backup", "--out", out, "--env", "both", "--yes"], {
        ...env,
        BACKUP_CONFIG: config,
      });
      assertEquals(c.code, 2, c.stderr);
      ok(/error: --storage backs up one project's files/.test(c.stderr), c.stderr);
    } finally {
      await Deno.remove(config);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/** An age key pair and a second identity in a temp folder: `{dir, identity, wrong, recipient}`. */
async function ageKeys() {
  const dir = await Deno.makeTempDir({ prefix: "storage-age-" });
  const id = await generateIdentity();
  const recipient = await identityToRecipient(id);
  await Deno.writeTextFile(join(dir, "key.txt"), `${id}\n`, { mode: 0o600 });
  await Deno.writeTextFile(join(dir, "other.txt"), `${await generateIdentity()}\n`, { mode: 0o600 });
  return { dir, identity: join(dir, "key.txt"), wrong: join(dir, "other.txt"), recipient };
}

/** Every file under `dir`, as bytes, by path relative to it. */
async function allFiles(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const rel of await listFiles(dir)) out.set(rel, await Deno.readFile(join(dir, rel)));
  return out;
}

Deno.test("--storage --encrypt-to: blobs encrypted with age, no plaintext in the root; verify, restore, drill, prune", async () => {
  const { p, files } = await source();
  const out = await Deno.makeTempDir({ prefix: "storage-sealed-" });
  const keys = await ageKeys();
  const enc = ["--encrypt-to", keys.recipient];
  try {
    const r = await backup(p, out, enc, {}, true);
    assertEquals(r.code, 0, r.stderr);
    const manifest = JSON.parse(await Deno.readTextFile(join(out, "latest", "manifest.json"))) as Manifest;
    const st = manifest.storage!;
    assertEquals([st.map, st.index, st.files], [
      "storage-objects.json.age",
      "storage-blobs.json",
      files.length,
    ]);
    assertEquals(manifest.files[st.map].encrypted, true);
    // the index: no names, each file's blob named by the sha256 of its encrypted bytes
    const index = JSON.parse(await Deno.readTextFile(join(out, "latest", "storage-blobs.json")));
    assertEquals(index.objects.length, files.length);
    const blobDir = join(out, "storage", "blobs");
    for (const e of index.objects) {
      const ref = { sha256: e.stored.sha256, size: e.stored.bytes, parts: e.parts };
      const parts = blobFiles(ref).map((b) => Deno.readFileSync(join(blobDir, b)));
      const whole = new Uint8Array(parts.flatMap((b) => [...b]));
      assertEquals([whole.length, sha256(whole)], [e.stored.bytes, e.stored.sha256]);
      ok(new TextDecoder().decode(whole.subarray(0, 21)) === "age-encryption.org/v1", "not an age file");
      ok(parts.every((b) => b.length <= 2_000_000), "a blob part is above --max-file-size");
    }
    ok(index.objects.some((e: { parts?: number }) => (e.parts ?? 0) >= 3), "the 5 MB file is cut into parts");
    // no plaintext in any file of the root: 32 bytes from the middle of every file of 64 bytes or more,
    // and the names of files (the map is encrypted, the index hides them)
    const stored = await allFiles(out);
    const needles = files.filter((f) => f.bytes.length >= 64).map((f) => {
      const at = Math.floor(f.bytes.length / 2) - 16;
      return { what: `${f.bucket}/${f.name}`, bytes: Buffer.from(f.bytes.subarray(at, at + 32)) };
    });
    needles.push(...["paren (1).txt", "three-mb.bin", "x!'*&$@=;:+,?.dat"].map((n) => ({
      what: n,
      bytes: Buffer.from(new TextEncoder().encode(n)),
    })));
    for (const [rel, bytes] of stored) {
      const hay = Buffer.from(bytes);
      for (const n of needles) ok(hay.indexOf(n.bytes) < 0, `${rel} holds plaintext of ${n.what}`);
    }
    ok(needles.length > 250, `only ${needles.length} patterns`);

    // the second, unchanged backup downloads nothing and adds no blob
    const before = (await listFiles(blobDir)).sort();
    const again = await backup(p, out, enc, {}, true);
    assertEquals(again.code, 0, again.stderr);
    const second = (JSON.parse(await Deno.readTextFile(join(out, "latest", "manifest.json"))) as Manifest)
      .storage!;
    assertEquals([second.downloaded.files, second.reused.files], [0, files.length]);
    assertEquals(second.sincePrevious, { added: 0, changed: 0, removed: 0, unchanged: files.length });
    assertEquals((await listFiles(blobDir)).sort(), before);

    // verify: without the identity the blobs as stored, saying what it could not; with it the plaintext
    const plainVerify = await runCli(["verify", "--out", out]);
    assertEquals(plainVerify.code, 0, plainVerify.stdout + plainVerify.stderr);
    ok(
      new RegExp(
        `the contents of ${files.length} encrypted file\\(s\\) were not checked \\(give --identity-file`,
      )
        .test(plainVerify.stdout),
      plainVerify.stdout,
    );
    const fullVerify = await runCli(["verify", "--out", out, "--identity-file", keys.identity]);
    assertEquals(fullVerify.code, 0, fullVerify.stdout + fullVerify.stderr);
    ok(
      new RegExp(`${files.length} encrypted file\\(s\\) decrypted and checked`).test(fullVerify.stdout),
      fullVerify.stdout,
    );

    await withTarget(async (t) => {
      const env = s3Env(t, "RESTORE_S3");
      const nothing = async () =>
        assertEquals((await projectState(t)).rows.size, 0, "something was uploaded");
      // no identity: exit 2 with a hint; a wrong one: refused, naming the identity file; nothing uploaded
      const none = await restore(["--out", out, "--storage-only"], env);
      assertEquals(none.code, 2, none.stderr);
      ok(
        /error: .*storage-objects\.json\.age is encrypted and no --identity-file/.test(none.stderr),
        none.stderr,
      );
      ok(/hint: /.test(none.stderr), none.stderr);
      const wrong = await restore(["--out", out, "--storage-only", "--identity-file", keys.wrong], env);
      assertEquals(wrong.code, 1, wrong.stderr);
      ok(
        /error: cannot decrypt .*storage-objects\.json\.age: no identity in/.test(wrong.stderr),
        wrong.stderr,
      );
      await nothing();

      const want = await projectState(p);
      const ok1 = await restore(
        ["--out", out, "--storage-only", "--target-url", t.dbUrl, "--identity-file", keys.identity, "--json"],
        env,
      );
      assertEquals(ok1.code, 0, ok1.stderr);
      assertEquals(JSON.parse(ok1.stdout).storage.result.uploaded, files.length);
      const got = await projectState(t);
      assertEquals(got.buckets, want.buckets);
      assertEquals([...got.rows.keys()], [...want.rows.keys()]);
      for (const [key, row] of want.rows) assertEquals(got.rows.get(key), row, key);
      for (const f of files) {
        const bytes = await restGet(t.storage, f.bucket, f.name);
        ok(bytes && sha256(bytes) === sha256(f.bytes), `${f.bucket}/${f.name}: other bytes in the target`);
      }

      // the drill decrypts too, into scratch buckets of the target
      const scratch = `drill_${Deno.pid}_${crypto.randomUUID().slice(0, 8)}`;
      await p.cluster.sql(`create database "${scratch}"`);
      const drill = await runCli([
        "verify",
        "--out",
        out,
        "--drill",
        "--identity-file",
        keys.identity,
        "--json",
        "--target-url",
        p.cluster.url({ db: scratch }),
      ], env);
      assertEquals(drill.code, 0, drill.stdout + drill.stderr);
      const ds = JSON.parse(drill.stdout).storage;
      assertEquals([ds.files, ds.matched, ds.mismatches], [files.length, files.length, []]);

      // a changed byte in an encrypted blob: verify names it, with and without the identity; the
      // restore refuses it by name and uploads nothing of it
      const big = index.objects.find((e: { size: number; parts?: number }) => e.size > 3000 && !e.parts);
      const path = join(blobDir, blobFiles({ sha256: big.stored.sha256 })[0]);
      const bytes = Deno.readFileSync(path);
      bytes[bytes.length - 100] ^= 0xff;
      Deno.writeFileSync(path, bytes);
      const bad = await runCli(["verify", "--out", out]);
      assertEquals(bad.code, 1, bad.stdout + bad.stderr);
      ok(
        bad.stdout.includes(`checksum  storage/blobs/${blobFiles({ sha256: big.stored.sha256 })[0]}`),
        bad.stdout,
      );
      const file = files.find((f) => sha256(f.bytes) === big.sha256)!;
      const bad2 = await runCli(["verify", "--out", out, "--identity-file", keys.identity]);
      assertEquals(bad2.code, 1, bad2.stdout + bad2.stderr);
      ok(bad2.stdout.includes(`${file.bucket}/${file.name}`), bad2.stdout);
      await restDelete(t.storage, file.bucket, file.name);
      const refused = await restore(
        ["--out", out, "--storage-only", "--identity-file", keys.identity, "--bucket", file.bucket],
        env,
      );
      assertEquals(refused.code, 1, refused.stderr);
      ok(
        refused.stderr.includes(
          `error: the blob of ${file.bucket}/${file.name} does not match the backup's map`,
        ),
        refused.stderr,
      );
      assertEquals(await restGet(t.storage, file.bucket, file.name), undefined);
    });

    // prune: the blobs of kept backups stay, those only the pruned archive had go
    const a = (await listFiles(blobDir)).length;
    const pruned = await runCli(["prune", "--out", out, "--keep-last", "1"]);
    assertEquals(pruned.code, 0, pruned.stdout + pruned.stderr);
    assertEquals((await listFiles(blobDir)).length, a, "a blob the kept backup names was removed");
    // a plain backup reuses no encrypted blob; once the encrypted backup is pruned, its blobs go
    const plainRun = await backup(p, out);
    assertEquals(plainRun.code, 0, plainRun.stderr);
    ok(
      /previous backup's files are encrypted and this one's are not: downloading every file/.test(
        plainRun.stderr,
      ),
      plainRun.stderr,
    );
    assertEquals((await backup(p, out)).code, 0); // the archive prune keeps is a plain one
    const last = await runCli(["prune", "--out", out, "--keep-last", "1"]);
    assertEquals(last.code, 0, last.stdout + last.stderr);
    const left = await listFiles(blobDir);
    ok(
      left.length > 0 && left.every((b) => !before.includes(b)),
      "an encrypted blob no backup names was kept",
    );
    assertEquals((await runCli(["verify", "--out", out])).code, 0);
  } finally {
    await Deno.remove(out, { recursive: true });
    await Deno.remove(keys.dir, { recursive: true });
  }
});
