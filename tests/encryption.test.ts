/**
 * Encryption at rest and compression, end to end on PostgreSQL 17 with the Supabase-shaped fixture:
 * `backup --encrypt-to` (with and without `--compress zstd`, and gzip alone) → `verify` (with the
 * identity, and without it against the stored checksums) → `restore --identity-file` into an empty
 * database → every table's rows and content hash equal the source. A wrong identity fails with one
 * line naming the file (exit 1); no plaintext SQL is left in the stored files. Schemas named like
 * the root's files in their stored forms (`roles.sql.age`, `roles.sql.gz.age`, `manifest.json`, …)
 * get folders of their own, and such a backup verifies and restores.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { clientBinDir } from "../dev/pgenv.ts";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { listFiles, runCli } from "./support/cli.ts";
import { loadFixture, tableFingerprints } from "./support/fixture.ts";
import type { Manifest } from "../lib/store/manifest.ts";

const TOOLS = { PG_BIN: clientBinDir() };

function quote(n: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(n) ? n : `"${n.replaceAll('"', '""')}"`;
}

/** Every table of the backup that holds rows itself (partitioned parents are their partitions). */
function tablesOf(m: Manifest): string[] {
  return m.schemas.flatMap((s) =>
    s.tables.filter((t) => t.kind !== "p").map((t) => `${quote(s.name)}.${quote(t.name)}`)
  );
}

interface Keys {
  dir: string;
  identity: string;
  recipientsFile: string;
  recipient: string;
  wrongIdentity: string;
}

async function makeKeys(): Promise<Keys> {
  const dir = await Deno.makeTempDir({ prefix: "age-keys-" });
  const id = await generateIdentity();
  const recipient = await identityToRecipient(id);
  await Deno.writeTextFile(`${dir}/key.txt`, `# created: test\n# public key: ${recipient}\n${id}\n`, {
    mode: 0o600,
  });
  await Deno.writeTextFile(`${dir}/recipients.txt`, `# backup key\n${recipient}\n`);
  await Deno.writeTextFile(`${dir}/other.txt`, `${await generateIdentity()}\n`, { mode: 0o600 });
  return {
    dir,
    identity: `${dir}/key.txt`,
    recipientsFile: `${dir}/recipients.txt`,
    recipient,
    wrongIdentity: `${dir}/other.txt`,
  };
}

const oneErrorLine = (stderr: string) => {
  const lines = stderr.split("\n").filter((l) => l.startsWith("error:"));
  return lines.length === 1 ? lines[0] : undefined;
};

for (
  const [label, flags] of [
    ["age", (k: Keys) => ["--encrypt-to", k.recipient]],
    [
      "age + zstd (recipients file)",
      (k: Keys) => ["--recipients-file", k.recipientsFile, "--compress", "zstd"],
    ],
    ["gzip only", (_k: Keys) => ["--compress", "gzip"]],
  ] as const
) {
  Deno.test({
    name: `encoded backup round trip: ${label}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const cluster: Cluster = await sharedCluster(17);
      const keys = await makeKeys();
      const root = await Deno.makeTempDir({ prefix: "encrypted-backup-" });
      try {
        const db = await cluster.createDatabase();
        const fx = await loadFixture(cluster, db);
        const encrypted = label.startsWith("age");
        const b = await runCli(["backup", "--db-url", fx.url, "--out", root, ...flags(keys)], TOOLS);
        ok(b.code === 0 || b.code === 3, `backup: exit ${b.code}\n${b.stderr}`);
        const m = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`)) as Manifest;

        // stored form: every file but the manifest is encoded, and named for it
        const files = (await listFiles(`${root}/latest`)).filter((f) => f !== "manifest.json");
        assertEquals(files, Object.keys(m.files).sort());
        for (const f of files) {
          const e = m.files[f];
          if (encrypted) {
            ok(e.encrypted && f.endsWith(".age"), `${f} is encrypted`);
            const head = new TextDecoder().decode(
              (await Deno.readFile(`${root}/latest/${f}`)).subarray(0, 21),
            );
            assertEquals(head, "age-encryption.org/v1");
          }
          if (f.includes(".sql")) ok(e.compression || encrypted, `${f} is encoded`);
          if (e.compression || e.encrypted) {
            ok(e.stored && e.stored.sha256 !== e.sha256, `${f} records its stored checksum`);
          } else ok(f.includes(".dump") && !e.stored, `${f} is stored as written`);
        }
        if (encrypted) {
          const all = (await Promise.all(files.map((f) => Deno.readFile(`${root}/latest/${f}`))))
            .map((b) => new TextDecoder().decode(b)).join("");
          ok(!/CREATE TABLE|COPY |INSERT INTO/.test(all), "no plaintext SQL in the stored files");
        }
        ok(m.roles?.startsWith("roles.sql."), `roles path rewritten: ${m.roles}`);

        // verify: with the identity (plaintext checksums), and without it (stored checksums)
        const idArgs = encrypted ? ["--identity-file", keys.identity] : [];
        const v = await runCli(["verify", "--out", root, ...idArgs], TOOLS);
        assertEquals(v.code, 0, `verify: ${v.stdout}\n${v.stderr}`);
        if (encrypted) {
          const v2 = await runCli(["verify", "--out", root], TOOLS);
          assertEquals(v2.code, 0, `verify without identity: ${v2.stdout}\n${v2.stderr}`);
        }

        // restore into an empty database and compare every table with the source
        const target = await cluster.createDatabase();
        const r = await runCli(
          ["restore", "--out", root, "--target-url", cluster.url({ db: target }), "--roles", ...idArgs],
          TOOLS,
        );
        assertEquals(r.code, 0, `restore: ${r.stderr}`);
        const tables = tablesOf(m);
        ok(tables.length >= 10, `${tables.length} tables`);
        const want = await tableFingerprints(cluster, db, tables);
        const got = await tableFingerprints(cluster, target, tables);
        assertEquals(got, want);

        if (encrypted) {
          // a wrong identity: one error line naming the file, exit 1, and nothing restored
          const bad = await runCli(["verify", "--out", root, "--identity-file", keys.wrongIdentity], TOOLS);
          assertEquals(bad.code, 1, `verify with a wrong identity: ${bad.stderr}`);
          const line = oneErrorLine(bad.stderr);
          ok(line && /cannot decrypt .+\.age: no identity in '.*other\.txt'/.test(line), bad.stderr);
          const empty = await cluster.createDatabase();
          const badRestore = await runCli(
            [
              "restore",
              "--out",
              root,
              "--target-url",
              cluster.url({ db: empty }),
              "--identity-file",
              keys.wrongIdentity,
            ],
            TOOLS,
          );
          assertEquals(badRestore.code, 1, `restore with a wrong identity: ${badRestore.stderr}`);
          ok(/cannot decrypt .+\.age/.test(oneErrorLine(badRestore.stderr) ?? ""), badRestore.stderr);
          const left = await cluster.sql(
            "select count(*) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')",
            { db: empty },
          );
          assertEquals(left.trim(), "0", "nothing was restored with the wrong identity");
          // no identity at all: a usage error
          const none = await runCli(
            ["restore", "--out", root, "--target-url", cluster.url({ db: empty })],
            TOOLS,
          );
          assertEquals(none.code, 2, `restore without identity: ${none.stderr}`);
          ok(/--identity-file/.test(none.stderr), none.stderr);
        }
      } finally {
        await Deno.remove(root, { recursive: true });
        await Deno.remove(keys.dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "schemas named like the root's files in any stored form do not break an encrypted backup",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const cluster: Cluster = await sharedCluster(17);
    const keys = await makeKeys();
    const root = await Deno.makeTempDir({ prefix: "reserved-names-" });
    // Every stored form of the root's files, and a case variant of one.
    const schemas = [
      "roles.sql",
      "roles.sql.age",
      "roles.sql.gz.age",
      "roles.sql.zst.age",
      "roles.sql.gz",
      "manifest.json",
      "ROLES.SQL.GZ.AGE",
      "catalog.sql",
      "catalog.sql.gz.age",
    ];
    try {
      const db = await cluster.createDatabase();
      const tables = schemas.map((s) => `${quote(s)}.t`);
      await cluster.sql(
        schemas.map((s, i) =>
          `create schema ${quote(s)}; create table ${quote(s)}.t (id int primary key);
           insert into ${quote(s)}.t select generate_series(1, ${i + 1});`
        ).join("\n"),
        { db },
      );
      for (const compress of [[], ["--compress", "gzip"]]) {
        const b = await runCli(
          [
            "backup",
            "--db-url",
            cluster.url({ db }),
            "--out",
            root,
            "--encrypt-to",
            keys.recipient,
            ...compress,
            ...schemas.flatMap((s) => ["--schema", s]),
          ],
          TOOLS,
        );
        assertEquals(b.code, 0, `backup ${compress.join(" ")}: ${b.stderr}`);
        const m = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`)) as Manifest;
        const tops = new Set(Object.keys(m.files).map((f) => f.split("/")[0].toLowerCase()));
        for (const s of m.schemas) {
          const folder = s.dump.split("/")[0].toLowerCase();
          ok(
            folder !== "manifest.json" && !folder.startsWith("roles.sql") &&
              !folder.startsWith("catalog.sql"),
            `${s.name} in ${folder}`,
          );
          ok(!Object.keys(m.files).some((f) => f.toLowerCase() === folder), `${folder} is also a file`);
        }
        ok(tops.has(m.roles!.toLowerCase()), `roles stored as ${m.roles}`);
        ok(tops.has(m.catalog!.toLowerCase()), `catalog stored as ${m.catalog}`);
        const v = await runCli(["verify", "--out", root, "--identity-file", keys.identity], TOOLS);
        assertEquals(v.code, 0, `verify: ${v.stdout}\n${v.stderr}`);
        const target = await cluster.createDatabase();
        const r = await runCli(
          [
            "restore",
            "--out",
            root,
            "--target-url",
            cluster.url({ db: target }),
            "--identity-file",
            keys.identity,
          ],
          TOOLS,
        );
        assertEquals(r.code, 0, `restore: ${r.stderr}`);
        assertEquals(
          await tableFingerprints(cluster, target, tables),
          await tableFingerprints(cluster, db, tables),
        );
      }
    } finally {
      await Deno.remove(root, { recursive: true });
      await Deno.remove(keys.dir, { recursive: true });
    }
  },
});
