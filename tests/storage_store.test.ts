/**
 * Storage files with an object-store destination (`backup --storage --store …`), through the real
 * CLI: a new Supabase project with the real Storage server as the source of the files; as the
 * store, another project's Storage server through its S3 protocol, and Azurite. For each store:
 * a backup puts every file's bytes into the store's blob space; an unchanged backup downloads and
 * uploads no file (only its manifest is written); a changed file is the only one moved; verify
 * names a corrupted blob; a restore into a third project refuses a damaged blob (the target does
 * not get the file) and then restores every file; the drill restores into scratch buckets; prune
 * keeps a blob while a backup needs it and removes it after; a backup killed (SIGKILL) while it
 * uploads files leaves no backup, and the next run succeeds. Servers are shared by the file.
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { s3Put, startProject, type StorageProject } from "./support/storage.ts";
import { restCreateBucket, restDelete, restGet, restPut } from "./support/storage.ts";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { runCli } from "./support/cli.ts";
import { type Azurite, startAzurite } from "./support/azurite.ts";
import { startProxy } from "./support/proxy.ts";
import { afterEarlierWrites } from "./support/stores.ts";
import { REPO } from "./support/paths.ts";
import { S3_SIDES, S3Client } from "../lib/store/s3.ts";
import { AzblobStore, parseConnectionString } from "../lib/store/azblob.ts";
import { openStore, parseStoreUrl } from "../lib/store/remote.ts";
import type { ObjectStore } from "../lib/store/object.ts";
import { blobKey, storedOf } from "../lib/store/remotelayout.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import type { StorageMap } from "../lib/storage/map.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic bytes. */
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

interface Seeded {
  bucket: string;
  name: string;
  bytes: Uint8Array;
}

/** The source project: two buckets, 30 files (empty, one byte, 3 MB, odd names, nested folders). */
let sourceP: Promise<{ p: StorageProject; files: Seeded[] }> | undefined;
function source() {
  sourceP ??= (async () => {
    const p = await startProject();
    await restCreateBucket(p.storage, { id: "photos", public: true });
    await restCreateBucket(p.storage, { id: "docs" });
    const files: Seeded[] = [];
    for (let i = 0; i < 24; i++) {
      files.push({
        bucket: i % 2 ? "docs" : "photos",
        name: `folder ${i % 3}/sub (${i % 2})/f-${i}.bin`,
        bytes: bytesOf(i + 1, 200 + i * 97),
      });
    }
    files.push({ bucket: "docs", name: "empty", bytes: new Uint8Array(0) });
    files.push({ bucket: "docs", name: "x!'*&$@=;:+,?.dat", bytes: bytesOf(77, 50) });
    files.push({ bucket: "docs", name: "spaces  twice/ and trailing .txt", bytes: bytesOf(78, 60) });
    files.push({ bucket: "photos", name: "one-byte", bytes: new Uint8Array([7]) });
    files.push({ bucket: "photos", name: "big/three-mb.bin", bytes: bytesOf(3, 3 * 1024 * 1024) });
    files.push({ bucket: "photos", name: "same-as-f-0.bin", bytes: files[0].bytes }); // deduplicated
    for (const [i, f] of files.entries()) {
      if (i % 2) {
        await s3Put(p.storage, f.bucket, f.name, f.bytes, {
          contentType: "text/plain",
          metadata: { index: String(i) },
        });
      } else {
        await restPut(p.storage, f.bucket, f.name, f.bytes, { cacheControl: `max-age=${i}` });
      }
    }
    return { p, files };
  })();
  return sourceP;
}

/** The project whose Storage server is the S3 store (bucket `backups`). */
let storeP: Promise<StorageProject> | undefined;
function storeProject() {
  storeP ??= (async () => {
    const p = await startProject();
    await new S3Client({
      endpoint: p.storage.endpoint,
      region: p.storage.region,
      accessKeyId: p.storage.accessKeyId,
      secretAccessKey: p.storage.secretAccessKey,
      ...S3_SIDES.source,
    }, { retries: 2 }).createBucket("backups", false);
    return p;
  })();
  return storeP;
}

let azuriteP: Promise<Azurite> | undefined;
function azurite() {
  azuriteP ??= (async () => {
    const a = await startAzurite();
    await new AzblobStore(parseConnectionString(a.connectionString), { container: "files", prefix: "" })
      .createContainer();
    return a;
  })();
  return azuriteP;
}
globalThis.addEventListener("unload", () => {
  azuriteP?.then((a) => a.stop());
});

function s3Env(p: StorageProject, prefix: string): Record<string, string> {
  return {
    [`${prefix}_ENDPOINT`]: p.storage.endpoint,
    [`${prefix}_REGION`]: p.storage.region,
    [`${prefix}_ACCESS_KEY_ID`]: p.storage.accessKeyId,
    [`${prefix}_SECRET_ACCESS_KEY`]: p.storage.secretAccessKey,
  };
}

/** One object store under test. */
interface Backend {
  name: string;
  url(): string;
  env: Record<string, string>;
  port: number;
  endpointVia(port: number): string[];
}

let runs = 0;
async function s3Backend(): Promise<Backend> {
  const p = await storeProject();
  return {
    name: "s3",
    url: () => `s3://backups/files-${Deno.pid}-${++runs}`,
    env: {
      AWS_ACCESS_KEY_ID: p.storage.accessKeyId,
      AWS_SECRET_ACCESS_KEY: p.storage.secretAccessKey,
      AWS_REGION: p.storage.region,
      AWS_ENDPOINT_URL_S3: p.storage.endpoint,
    },
    port: Number(new URL(p.storage.url).port),
    endpointVia: (port) => ["--store-endpoint", `http://127.0.0.1:${port}/s3`],
  };
}

async function azBackend(): Promise<Backend> {
  const a = await azurite();
  return {
    name: "azblob",
    url: () => `azblob://files/run-${Deno.pid}-${++runs}`,
    env: { AZURE_STORAGE_CONNECTION_STRING: a.connectionString },
    port: a.port,
    endpointVia: (port) => ["--store-endpoint", `http://127.0.0.1:${port}/${a.account}`],
  };
}

async function keys(store: ObjectStore): Promise<{ key: string; size: number; lastModified?: Date }[]> {
  const out: { key: string; size: number; lastModified?: Date }[] = [];
  for await (const o of store.list("")) out.push({ key: o.key, size: o.size, lastModified: o.lastModified });
  return out;
}

async function text(store: ObjectStore, key: string): Promise<string> {
  return await new Response(await store.get(key)).text();
}

/** The newest backup's manifest, read from the store as a person would. */
async function latestManifest(store: ObjectStore): Promise<{ m: Manifest }> {
  const k = (await keys(store)).map((x) => x.key).filter((x) => x.startsWith("backups/")).sort().at(-1)!;
  return { m: JSON.parse(await text(store, k)) as Manifest };
}

/** The newest backup's manifest and Storage map, read from the store as a person would. */
async function latest(store: ObjectStore): Promise<{ m: Manifest; map: StorageMap }> {
  const k = (await keys(store)).map((x) => x.key).filter((x) => x.startsWith("backups/")).sort().at(-1)!;
  const m = JSON.parse(await text(store, k)) as Manifest;
  const map = JSON.parse(await text(store, blobKey(storedOf(m.files[m.storage!.map]).sha256))) as StorageMap;
  return { m, map };
}

function storeMatrix(make: () => Promise<Backend>): void {
  Deno.test({
    name:
      `backup --storage --store: files in the store's blob space, incremental, verify, restore, drill, prune, kill`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      // one project at a time: a new project's database is copied from the template "postgres"
      const { p, files } = await source();
      const b = await make();
      const url = b.url();
      const store = await openStore(parseStoreUrl(url, "test"), { env: b.env, retries: 2 });
      const env = { ...b.env, ...s3Env(p, "SUPABASE_S3") };
      const backup = (u = url, extra: string[] = []) =>
        runCli([
          "backup",
          "--db-url",
          p.dbUrl,
          "--schema",
          "public",
          "--store",
          u,
          "--storage",
          "--yes",
          "--json",
          ...extra,
        ], env);
      const firstMap: StorageMap[] = [];

      await t.step(
        `${b.name}: every file's bytes are a blob of the store, named by their sha256`,
        async () => {
          const r = await backup();
          assertEquals(r.code, 0, r.stderr);
          const all = await keys(store);
          const { m, map } = await latest(store);
          firstMap.push(map);
          assertEquals(map.objects.length, files.length);
          for (const f of files) {
            const e = map.objects.find((o) => o.bucket === f.bucket && o.name === f.name);
            ok(e, `${f.bucket}/${f.name} in the map`);
            assertEquals([e.sha256, e.parts], [sha256(f.bytes), undefined]);
            const blob = new Uint8Array(await new Response(await store.get(blobKey(e.sha256))).arrayBuffer());
            assertEquals(sha256(blob), e.sha256, `${f.bucket}/${f.name}: the blob holds the file's bytes`);
          }
          const storageBlobs = new Set(map.objects.map((o) => blobKey(o.sha256)));
          assertEquals(storageBlobs.size, files.length - 1, "one content is stored once");
          assertEquals(m.storage!.downloaded.files, files.length);
          assertEquals(all.filter((k) => k.key.startsWith("locks/")), []);
          const json = JSON.parse(r.stdout);
          ok(
            JSON.stringify(json).includes(`uploaded ${files.length - 1} Storage blob(s)`),
            r.stdout,
          );
          ok(!(r.stdout + r.stderr).includes(p.storage.secretAccessKey), "no key printed");
        },
      );

      await t.step(
        `${b.name}: an unchanged project's backup moves no file: only its manifest is written`,
        async () => {
          const before = await afterEarlierWrites();
          const r = await backup();
          assertEquals(r.code, 0, r.stderr);
          const written = (await keys(store)).filter((k) => k.lastModified && k.lastModified >= before);
          assertEquals(written.map((k) => k.key.split("/")[0]), ["backups"], r.stderr);
          const { m } = await latest(store);
          assertEquals([m.storage!.downloaded, m.storage!.reused.files], [
            { files: 0, bytes: 0 },
            files.length,
          ]);
          ok(r.stdout.includes("uploaded 0 Storage blob(s)"), r.stdout);
        },
      );

      const changed = files[1];
      const newBytes = bytesOf(9999 + runs, 4321); // other bytes for each store's run
      await t.step(`${b.name}: one changed file is the only one downloaded and uploaded`, async () => {
        await s3Put(p.storage, changed.bucket, changed.name, newBytes, { contentType: "text/plain" });
        const r = await backup();
        assertEquals(r.code, 0, r.stderr);
        const { m, map } = await latest(store);
        assertEquals(m.storage!.downloaded, { files: 1, bytes: newBytes.length });
        assertEquals(m.storage!.sincePrevious, {
          added: 0,
          changed: 1,
          removed: 0,
          unchanged: files.length - 1,
        });
        assertEquals(map.objects.find((o) => o.name === changed.name)!.sha256, sha256(newBytes));
        ok(r.stdout.includes("uploaded 1 Storage blob(s)"), r.stdout);
        // restore later must give the changed bytes
        changed.bytes = newBytes;
      });

      await t.step(
        `${b.name}: verify checks every Storage blob; a corrupted one is named with its file`,
        async () => {
          const v = await runCli(["verify", "--store", url, "--all"], b.env);
          assertEquals(v.code, 0, v.stderr + v.stdout);
          ok(/storage latest.*: 29 blob\(s\) checked against their sha256/.test(v.stdout), v.stdout);
          const { map } = await latest(store);
          const victim = map.objects.find((o) => o.name === "folder 0/sub (0)/f-6.bin")!;
          const key = blobKey(victim.sha256);
          const good = new Uint8Array(await new Response(await store.get(key)).arrayBuffer());
          const bad = good.slice();
          bad[10] ^= 1;
          await store.put(key, { bytes: bad });
          const r = await runCli(["verify", "--store", url], b.env);
          assertEquals(r.code, 1, r.stdout);
          ok(
            r.stderr.includes(key) && r.stderr.includes(`${victim.bucket}/${victim.name}`) &&
              /checksum/.test(r.stderr),
            r.stderr,
          );

          // a restore streams the blob and checks it on the way: the damaged file never reaches the target
          const target = await startProject();
          try {
            const tenv = { ...b.env, ...s3Env(target, "RESTORE_S3") };
            const bad1 = await runCli(["restore", "--store", url, "--storage-only", "--jobs", "1"], tenv);
            assertEquals(bad1.code, 1, bad1.stderr);
            ok(
              bad1.stderr.includes(
                `error: the blob of ${victim.bucket}/${victim.name} does not match the backup's map`,
              ),
              bad1.stderr,
            );
            assertEquals(await restGet(target.storage, victim.bucket, victim.name), undefined);
            await store.put(key, { bytes: good });
            const r2 = await runCli([
              "restore",
              "--store",
              url,
              "--storage", // the database (public schema), then the files
              "--target-url",
              target.dbUrl,
            ], tenv);
            assertEquals(r2.code, 0, r2.stderr);
            ok(/restored Storage files: .*file\(s\) uploaded/.test(r2.stdout), r2.stdout);
            for (const f of files) {
              const got = await restGet(target.storage, f.bucket, f.name);
              ok(got, `${f.bucket}/${f.name} restored`);
              assertEquals(sha256(got), sha256(f.bytes), `${f.bucket}/${f.name}`);
            }
            // the drill: every file into scratch buckets on the target server, compared, removed
            const scratch = `drill_${Deno.pid}_${crypto.randomUUID().slice(0, 8)}`;
            await p.cluster.sql(`create database "${scratch}"`);
            const d = await runCli(
              ["verify", "--store", url, "--drill", "--target-url", p.cluster.url({ db: scratch }), "--json"],
              tenv,
            );
            assertEquals(d.code, 0, d.stdout + d.stderr);
            const st = JSON.parse(d.stdout).storage;
            assertEquals([st.files, st.matched, st.mismatches], [files.length, files.length, []]);
          } finally {
            await target.stop();
          }
        },
      );

      await t.step(
        `${b.name}: prune keeps a file's blob while a backup needs it, then removes it`,
        async () => {
          const old = blobKey(firstMap[0].objects.find((o) => o.name === changed.name)!.sha256);
          const has = async (k: string) => (await keys(store)).some((x) => x.key === k);
          ok(await has(old));
          // three backups, the first two with the old bytes: the latest and one more are kept
          const p2 = await runCli(["prune", "--store", url, "--keep-last", "1"], b.env);
          assertEquals(p2.code, 0, p2.stderr);
          ok(/removed 1\b/.test(p2.stdout), p2.stdout);
          ok(await has(old), `${old} is kept: the unchanged backup needs it\n${p2.stdout}`);
          // one more backup: the unchanged one is pruned, and the old bytes with it
          assertEquals((await backup()).code, 0);
          const p1 = await runCli(["prune", "--store", url, "--keep-last", "1"], b.env);
          assertEquals(p1.code, 0, p1.stderr);
          ok(!(await has(old)), `${old} is removed with the last backup that needed it\n${p1.stdout}`);
          ok(/blobs: removed [1-9]\d* unreferenced blob/.test(p1.stdout), p1.stdout);
          const { map } = await latest(store);
          for (const o of map.objects) ok(await has(blobKey(o.sha256)), `${o.bucket}/${o.name} kept`);
          assertEquals((await runCli(["verify", "--store", url, "--all"], b.env)).code, 0);
        },
      );

      await t.step(
        `${b.name}: a backup killed while it uploads files leaves no backup; the next one succeeds`,
        async () => {
          const proxy = startProxy(b.port, 200);
          const u = b.url();
          const s = await openStore(parseStoreUrl(u, "test"), { env: b.env, retries: 2 });
          try {
            const child = new Deno.Command(Deno.execPath(), {
              args: [
                "run",
                "--allow-all",
                "--quiet",
                `${REPO}/backup.ts`,
                "backup",
                "--db-url",
                p.dbUrl,
                "--schema",
                "public",
                "--store",
                u,
                "--storage",
                "--yes",
                "--jobs",
                "1",
                ...b.endpointVia(proxy.port),
              ],
              cwd: REPO,
              clearEnv: true,
              env: {
                PATH: "/usr/local/bin:/usr/bin:/bin",
                HOME: Deno.env.get("HOME") ?? "/root",
                NO_COLOR: "1",
                ...env,
              },
              stdout: "null",
              stderr: "null",
            }).spawn();
            let blobs = 0;
            for (let i = 0; i < 600 && blobs < 2; i++) {
              await sleep(100);
              blobs = (await keys(s)).filter((k) => k.key.startsWith("blobs/")).length;
            }
            child.kill("SIGKILL");
            await child.status;
            ok(blobs >= 2, "the backup was uploading files");
            assertEquals(
              (await keys(s)).filter((k) => k.key.startsWith("backups/")),
              [],
              "no backup is visible",
            );
            const l = await runCli(["list", "--store", u, "--json"], b.env);
            assertEquals(JSON.parse(l.stdout).roots[0].backups, []);
          } finally {
            await proxy.close();
          }
          const again = await backup(u);
          assertEquals(again.code, 0, again.stderr);
          assertEquals((await runCli(["verify", "--store", u], b.env)).code, 0);
        },
      );
    },
  });
}

storeMatrix(s3Backend);
storeMatrix(azBackend);

/**
 * `--encrypt-to` with a store: every object of the store is free of the files' bytes and names; an
 * unchanged backup writes only its manifest; verify checks the blobs without the identity and the
 * plaintext with it; a changed byte of an encrypted blob is named; the drill decrypts; prune removes
 * an encrypted blob with the last backup that names it.
 */
function sealedMatrix(make: () => Promise<Backend>): void {
  Deno.test({
    name: "backup --storage --store --encrypt-to: encrypted blobs, incremental, verify, drill, prune",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const { p, files } = await source();
      const b = await make();
      const url = b.url();
      const store = await openStore(parseStoreUrl(url, "test"), { env: b.env, retries: 2 });
      const env = { ...b.env, ...s3Env(p, "SUPABASE_S3") };
      const dir = await Deno.makeTempDir({ prefix: "store-sealed-" });
      const id = await generateIdentity();
      const identity = join(dir, "key.txt");
      await Deno.writeTextFile(identity, `${id}\n`, { mode: 0o600 });
      const backup = () =>
        runCli([
          "backup",
          "--db-url",
          p.dbUrl,
          "--schema",
          "public",
          "--store",
          url,
          "--storage",
          "--yes",
          "--encrypt-to",
          recipient,
        ], env);
      const recipient = await identityToRecipient(id);
      const own = { bucket: "docs", name: `sealed/own-${b.name}.bin`, bytes: bytesOf(4242, 70_000) };
      await restPut(p.storage, own.bucket, own.name, own.bytes, {});
      try {
        const r = await backup();
        assertEquals(r.code, 0, r.stderr);
        const { m } = await latestManifest(store);
        assertEquals([m.storage!.index, m.files[m.storage!.map].encrypted], ["storage-blobs.json", true]);
        // no object of the store holds 32 bytes of any file, or a file's name
        const needles = [...files, own].filter((f) => f.bytes.length >= 64).map((f) => {
          const at = Math.floor(f.bytes.length / 2) - 16;
          return Buffer.from(f.bytes.subarray(at, at + 32));
        });
        needles.push(Buffer.from("spaces  twice/ and trailing"), Buffer.from("three-mb.bin"));
        const blobsBefore: string[] = [];
        for (const k of await keys(store)) {
          const bytes = Buffer.from(await new Response(await store.get(k.key)).arrayBuffer());
          for (const n of needles) ok(bytes.indexOf(n) < 0, `${k.key} holds plaintext`);
          if (k.key.startsWith("blobs/")) {
            assertEquals(blobKey(sha256(bytes)), k.key, "a blob's name is its sha256");
            blobsBefore.push(k.key);
          }
        }
        const index = JSON.parse(await text(store, blobKey(m.files["storage-blobs.json"].sha256)));
        assertEquals(index.objects.length, files.length + 1);
        // same-as-f-0.bin has f-0's bytes: one encrypted blob for both
        const stored = new Set(index.objects.map((e: { stored: { sha256: string } }) => e.stored.sha256));
        assertEquals(stored.size, files.length, "one content is one encrypted blob");

        // unchanged: only the manifest is written
        const before = await afterEarlierWrites();
        const again = await backup();
        assertEquals(again.code, 0, again.stderr);
        const written = (await keys(store)).filter((k) => k.lastModified && k.lastModified >= before);
        assertEquals(written.map((k) => k.key.split("/")[0]), ["backups"], again.stderr);
        assertEquals((await latestManifest(store)).m.storage!.downloaded, { files: 0, bytes: 0 });

        const n = files.length + 1;
        const v = await runCli(["verify", "--store", url], b.env);
        assertEquals(v.code, 0, v.stdout + v.stderr);
        ok(v.stdout.includes(`the contents of ${n} encrypted file(s) were not checked`), v.stdout);
        const vi = await runCli(["verify", "--store", url, "--identity-file", identity], b.env);
        assertEquals(vi.code, 0, vi.stdout + vi.stderr);
        ok(vi.stdout.includes(`${n} encrypted file(s) decrypted and checked`), vi.stdout);

        // the drill decrypts every file into scratch buckets (on the source's own server)
        const scratch = `drill_${Deno.pid}_${crypto.randomUUID().slice(0, 8)}`;
        await p.cluster.sql(`create database "${scratch}"`);
        const d = await runCli([
          "verify",
          "--store",
          url,
          "--drill",
          "--identity-file",
          identity,
          "--target-url",
          p.cluster.url({ db: scratch }),
          "--json",
        ], { ...b.env, ...s3Env(p, "RESTORE_S3") });
        assertEquals(d.code, 0, d.stdout + d.stderr);
        const st = JSON.parse(d.stdout).storage;
        assertEquals([st.files, st.matched, st.mismatches], [n, n, []]);

        // a changed byte of the own file's encrypted blob: named, with and without the identity
        const entry = index.objects.find((e: { size: number }) => e.size === own.bytes.length);
        const key = blobKey(entry.stored.sha256);
        const good = new Uint8Array(await new Response(await store.get(key)).arrayBuffer());
        const bad = good.slice();
        bad[bad.length - 50] ^= 1;
        await store.put(key, { bytes: bad });
        const bv = await runCli(["verify", "--store", url], b.env);
        assertEquals(bv.code, 1, bv.stdout + bv.stderr);
        ok(bv.stderr.includes(`checksum ${key}`), bv.stderr);
        const bvi = await runCli(["verify", "--store", url, "--identity-file", identity], b.env);
        assertEquals(bvi.code, 1, bvi.stdout + bvi.stderr);
        ok(bvi.stderr.includes(`${own.bucket}/${own.name}`), bvi.stderr);
        await store.put(key, { bytes: good });

        // changed: its new blob uploaded; prune removes the old one with the last backup naming it
        await restPut(p.storage, own.bucket, own.name, bytesOf(4343, 5000), { upsert: true });
        const third = await backup();
        assertEquals(third.code, 0, third.stderr);
        assertEquals((await latestManifest(store)).m.storage!.downloaded.files, 1);
        assertEquals((await backup()).code, 0); // the latest is never pruned, nor the last older one kept
        const pr = await runCli(["prune", "--store", url, "--keep-last", "1"], b.env);
        assertEquals(pr.code, 0, pr.stdout + pr.stderr);
        const left = new Set((await keys(store)).map((k) => k.key));
        ok(!left.has(key), `${key} is removed with the last backup that named it\n${pr.stdout}`);
        ok(blobsBefore.filter((k) => !left.has(k)).length >= 1, "nothing was removed");
        const after = await runCli(["verify", "--store", url, "--all", "--identity-file", identity], b.env);
        assertEquals(after.code, 0, after.stdout + after.stderr);
      } finally {
        await restDelete(p.storage, own.bucket, own.name).catch(() => {});
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

sealedMatrix(s3Backend);
sealedMatrix(azBackend);

Deno.test({
  name: "backup --storage into a bucket of the source project itself leaves that bucket out",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { p, files } = await source();
    const s = p.storage;
    await new S3Client({
      endpoint: s.endpoint,
      region: s.region,
      accessKeyId: s.accessKeyId,
      secretAccessKey: s.secretAccessKey,
      ...S3_SIDES.source,
    }, { retries: 2 }).createBucket("own-backups", false);
    const env = {
      AWS_ACCESS_KEY_ID: s.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
      AWS_REGION: s.region,
      AWS_ENDPOINT_URL_S3: s.endpoint,
      ...s3Env(p, "SUPABASE_S3"),
    };
    const url = "s3://own-backups/prod";
    const store = await openStore(parseStoreUrl(url, "test"), { env, retries: 2 });
    const args = ["backup", "--db-url", p.dbUrl, "--schema", "public", "--store", url, "--storage", "--yes"];
    for (let run = 1; run <= 2; run++) {
      const r = await runCli(args, env);
      assertEquals(r.code, 0, r.stderr);
      ok(
        r.stderr.includes("notice: storage: bucket own-backups holds s3://own-backups/prod itself"),
        r.stderr,
      );
      const { m, map } = await latest(store);
      assertEquals(map.buckets.map((b) => b.id).sort(), ["docs", "photos"]);
      assertEquals(map.objects.length, files.length);
      // the second run finds the first one's blobs in the bucket, and takes none of them
      if (run === 2) assertEquals(m.storage!.downloaded, { files: 0, bytes: 0 });
    }
  },
});

Deno.test({
  name: "the file's servers stop",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await (await sourceP)?.p.stop();
    await (await storeP)?.stop();
    await (await azuriteP)?.stop();
  },
});
