/**
 * Stored-form naming, manifest path rewriting, recipient and identity parsing, and a round trip of every
 * encoding (gzip, zstd, age, both) through encodeBackup → openPlaintext / verify, without a database.
 */
import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { openPlaintext, parseIdentities, plaintextPath } from "../../../lib/store/decode.ts";
import {
  checkRecipient,
  encodeBackup,
  parseRecipients,
  renameFiles,
  shownRecipient,
  storedForm,
} from "../../../lib/store/encode.ts";
import { BackupError } from "../../../lib/base/errors.ts";
import type { Manifest } from "../../../lib/store/manifest.ts";
import { checkStaging } from "../../../lib/store/staging.ts";
import { verifyBackup } from "../../../lib/check/verify.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function manifestOf(files: Record<string, Uint8Array>): Manifest {
  const entries: Manifest["files"] = {};
  for (const [k, v] of Object.entries(files)) entries[k] = { bytes: v.length, sha256: sha(v) };
  return {
    format: 1,
    createdAt: "2025-01-01T00:00:00.000Z",
    tool: "test",
    source: { repo: "local", event: "test", sha: "0" },
    database: { name: "db", serverVersion: "17", sizeBytes: 0, host: "h" },
    pgDumpVersion: "pg_dump (PostgreSQL) 17.6",
    snapshot: { consistent: true },
    status: "ok",
    roles: "roles.sql",
    ...(files["catalog.sql"] ? { catalog: "catalog.sql" } : {}),
    schemas: [{
      name: "public",
      dump: "public/public.dump",
      dumpBytes: files["public/public.dump"].length,
      tables: [{
        name: "t",
        rows: 2,
        schemaFile: "public/tables/t/schema.sql",
        dataFiles: ["public/tables/t/data.001.sql", "public/tables/t/data.002.sql"],
        bytes: 0,
      }],
    }],
    skipped: [],
    files: entries,
    durationMs: 0,
  };
}

Deno.test("storedForm: suffix per step, dumps never compressed", () => {
  const gz = { compression: "gzip" as const, recipients: [] };
  assertEquals(storedForm("a/data.sql", gz), {
    name: "a/data.sql.gz",
    compression: "gzip",
    encrypted: false,
  });
  assertEquals(storedForm("a/x.dump", gz), { name: "a/x.dump", encrypted: false });
  const both = { compression: "zstd" as const, recipients: ["age1x"] };
  assertEquals(storedForm("roles.sql", both).name, "roles.sql.zst.age");
  assertEquals(storedForm("a/x.dump.001", both).name, "a/x.dump.001.age");
  // the Storage map is encrypted; the blob index, read without the identity, never is
  assertEquals(storedForm("storage-objects.json", both).name, "storage-objects.json.age");
  assertEquals(storedForm("storage-blobs.json", both), { name: "storage-blobs.json", encrypted: false });
});

Deno.test("renameFiles renames the Storage map the manifest names", () => {
  const enc = new TextEncoder();
  const m = manifestOf({
    "roles.sql": enc.encode("r"),
    "catalog.sql": enc.encode("c"),
    "public/public.dump": enc.encode("d"),
    "public/tables/t/schema.sql": enc.encode("s"),
    "public/tables/t/data.sql": enc.encode("x"),
    "storage-objects.json": enc.encode("{}"),
  });
  const storage = {
    map: "storage-objects.json",
    index: "storage-blobs.json",
    endpoint: "http://h",
    buckets: 0,
    files: 0,
    bytes: 0,
    downloaded: { files: 0, bytes: 0 },
    reused: { files: 0, bytes: 0 },
    changed: [],
    missing: [],
  };
  const r = renameFiles({ ...m, storage }, (p) => p + ".age");
  assertEquals([r.storage?.map, r.storage?.index], ["storage-objects.json.age", "storage-blobs.json"]);
  ok(r.files["storage-objects.json.age"], "the map's entry is renamed too");
});

Deno.test("renameFiles rewrites every path in the manifest", () => {
  const enc = new TextEncoder();
  const m = manifestOf({
    "roles.sql": enc.encode("r"),
    "catalog.sql": enc.encode("c"),
    "public/public.dump": enc.encode("d"),
    "public/tables/t/schema.sql": enc.encode("s"),
    "public/tables/t/data.001.sql": enc.encode("1"),
    "public/tables/t/data.002.sql": enc.encode("2"),
  });
  const r = renameFiles(m, (p) => p + ".x");
  assertEquals(r.roles, "roles.sql.x");
  assertEquals(r.catalog, "catalog.sql.x");
  assertEquals(Object.keys(r).indexOf("catalog"), Object.keys(m).indexOf("catalog"));
  assertEquals(r.schemas[0].dump, "public/public.dump.x");
  assertEquals(r.schemas[0].tables[0].schemaFile, "public/tables/t/schema.sql.x");
  assertEquals(r.schemas[0].tables[0].dataFiles, [
    "public/tables/t/data.001.sql.x",
    "public/tables/t/data.002.sql.x",
  ]);
  assertEquals(Object.keys(r.files).sort(), Object.keys(m.files).map((k) => k + ".x").sort());
  throws(() => renameFiles(m, () => "same"), /two backup files/);
});

Deno.test("parseRecipients and parseIdentities take one key a line and refuse the other kind", async () => {
  const id = await generateIdentity();
  const rcp = await identityToRecipient(id);
  const usage = (e: unknown) => e instanceof BackupError && e.exitCode === 2;
  throws(() => parseRecipients(`# c\n${id}\n`, "f"), /secret key \(an age identity/);
  assertEquals(parseRecipients(`# comment\n\n${rcp}\n`, "f"), [rcp]);
  assertEquals(await parseIdentities(`# created\n# public key: ${rcp}\n${id}\n`, "f"), [id]);
  await rejects(() => parseIdentities(`${rcp}\n`, "f"), usage);
  await rejects(() => parseIdentities("# nothing\n", "f"), usage);
});

Deno.test("no message about a recipient holds a secret key or a value not shaped like a public key (item 4)", async () => {
  const id = await generateIdentity();
  const rcp = await identityToRecipient(id);
  const message = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      ok(e instanceof BackupError && e.exitCode === 2, String(e));
      return `${e.message}\n${e.hint}`;
    }
    throw new Error("no error");
  };
  for (
    const secret of [
      id,
      id.toLowerCase(),
      "AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQ",
      "-----BEGIN OPENSSH PRIVATE KEY-----",
    ]
  ) {
    const flag = message(() => checkRecipient(secret, "--encrypt-to"));
    ok(flag.startsWith("--encrypt-to: the value is a secret key"), flag);
    ok(flag.includes("age-keygen -y") && !flag.includes(secret), flag);
    const file = message(() => parseRecipients(`# keys\n${rcp}\n${secret}\n`, "--recipients-file 'r.txt'"));
    ok(file.startsWith("--recipients-file 'r.txt' line 3 holds a secret key"), file);
    ok(!file.includes(secret), file);
  }
  const other = message(() => parseRecipients("DB_PASSWORD=hunter2-secret\n", "f"));
  ok(!other.includes("hunter2"), other);
  ok(other.includes("a value of 26 characters (not shown"), other);
  assertEquals(
    message(() => checkRecipient("age1typo", "--encrypt-to")).split("\n")[0],
    "--encrypt-to: 'age1typo' is not an age recipient",
  );
  assertEquals(shownRecipient("ssh-ed25519 AAAAC3 me@host"), "'ssh-ed25519 AAAAC3 me@host'");
  assertEquals(shownRecipient("x".repeat(100)).includes("x"), false);
  assertEquals(shownRecipient(`age1${"q".repeat(100)}`), `'age1${"q".repeat(73)}…'`);
});

for (
  const [label, compress, encrypt] of [
    ["gzip", "gzip", false],
    ["zstd", "zstd", false],
    ["age", undefined, true],
    ["zstd+age", "zstd", true],
  ] as const
) {
  Deno.test(`encodeBackup round trip: ${label}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "encode-test-" });
    const tmp = await Deno.makeTempDir({ prefix: "encode-test-plain-" });
    try {
      const id = await generateIdentity();
      const idFile = `${dir}.key`;
      await Deno.writeTextFile(idFile, `# test key\n${id}\n`);
      const enc = new TextEncoder();
      // 3 MB of data so age's 64 KiB chunking and multi-chunk compression are exercised.
      const big = enc.encode(Array.from({ length: 60000 }, (_, i) => `${i}\trow ${i}\t${i * 7}\n`).join(""));
      const dump = crypto.getRandomValues(new Uint8Array(50000));
      const content: Record<string, Uint8Array> = {
        "roles.sql": enc.encode("CREATE ROLE x;\n"),
        "public/public.dump": dump,
        "public/tables/t/schema.sql": enc.encode("CREATE TABLE t();\n"),
        "public/tables/t/data.001.sql": big,
        "public/tables/t/data.002.sql": new Uint8Array(0),
      };
      for (const [rel, bytes] of Object.entries(content)) {
        await Deno.mkdir(dirname(`${dir}/${rel}`), { recursive: true });
        await Deno.writeFile(`${dir}/${rel}`, bytes);
      }
      const m = manifestOf(content);
      const settings = {
        ...(compress ? { compression: compress } : {}),
        recipients: encrypt ? [await identityToRecipient(id)] : [],
      };
      const out = await encodeBackup(dir, m, settings);
      await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(out));
      await checkStaging(dir, out);
      for (const [rel, bytes] of Object.entries(content)) {
        const form = storedForm(rel, settings);
        const entry = out.files[form.name];
        ok(entry, `${form.name} in manifest`);
        assertEquals(entry.bytes, bytes.length);
        assertEquals(entry.sha256, sha(bytes));
        const stored = await Deno.readFile(`${dir}/${form.name}`);
        assertEquals((entry.stored ?? entry).sha256, sha(stored));
        assertEquals(entry.stored === undefined, form.name === rel);
        if (form.name !== rel) assertEquals((await Deno.stat(`${dir}/${form.name}`)).mode! & 0o777, 0o600);
        if (encrypt) ok(new TextDecoder().decode(stored.subarray(0, 22)).startsWith("age-encryption.org/v1"));
        if (form.name !== rel) ok(sha(stored) !== sha(bytes), `${form.name} is encoded`);
        const opts = { identityFile: idFile };
        const plain = new Uint8Array(
          await new Response(await openPlaintext(dir, form.name, entry, opts)).arrayBuffer(),
        );
        assertEquals(sha(plain), sha(bytes));
        const p = await plaintextPath(dir, form.name, entry, tmp, opts);
        assertEquals(sha(await Deno.readFile(p)), sha(bytes));
      }
      if (compress) {
        ok(
          out.files[storedForm("public/tables/t/data.001.sql", settings).name].stored!.bytes < big.length / 3,
        );
      }
      const good = await verifyBackup(dir, "t", { identityFile: idFile });
      assertEquals(good.faults, []);
      if (encrypt) {
        // without the identity, verify checks the stored bytes
        assertEquals((await verifyBackup(dir, "t")).faults, []);
        // a wrong identity fails with one message naming the file
        const other = `${dir}.other`;
        await Deno.writeTextFile(other, `${await generateIdentity()}\n`);
        await rejects(
          verifyBackup(dir, "t", { identityFile: other }),
          (e: unknown) =>
            e instanceof BackupError && e.exitCode === 1 &&
            /cannot decrypt .*\.age: no identity/.test(e.message),
        );
        await Deno.remove(other);
      }
      // a flipped byte in a stored file is a fault, not a crash
      const victim = storedForm("public/tables/t/data.001.sql", settings).name;
      const bytes = await Deno.readFile(`${dir}/${victim}`);
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      await Deno.writeFile(`${dir}/${victim}`, bytes);
      const bad = await verifyBackup(dir, "t", { identityFile: idFile });
      assertEquals(bad.faults.map((f) => f.file), [victim]);
      await Deno.remove(idFile);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(tmp, { recursive: true });
    }
  });
}
