/**
 * The object-store matrix of `--store` (issue 14), written once over a store factory so that every
 * backend runs the same steps on a real server (tests/store_s3.test.ts: the Supabase Storage
 * server's S3 protocol; Azurite for Azure Blob). A PostgreSQL 17 source with the fixture: backup,
 * an unchanged backup that uploads only its manifest, a changed one, list, verify (a corrupted and
 * a missing blob named), restore and the drill, encrypted and not, prune with a running backup,
 * and a backup killed (SIGKILL) mid-upload. Before it, history and point in time on the store: five
 * backups of a changing database, `history --table`, `restore --as-of --into`, their bad input, and a
 * damaged manifest left out.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { clientBinDir } from "../../dev/pgenv.ts";
import type { ObjectStore } from "../../lib/store/object.ts";
import { blobKey, manifestKey, storedOf } from "../../lib/store/remotelayout.ts";
import { listBackups } from "../../lib/store/remoteread.ts";
import type { Manifest } from "../../lib/store/manifest.ts";
import { type CliResult, runCli } from "./cli.ts";
import { type Cluster, sharedCluster } from "./cluster.ts";
import { loadFixture, tableFingerprints } from "./fixture.ts";
import { REPO } from "./paths.ts";

/** One store under test, on a running server. */
export interface StoreFixture {
  /** The backend's name in test names: `s3`, `azblob`. */
  name: string;
  /** A `--store` URL of a fresh, empty prefix (each call a new one). */
  url(): string;
  /** The environment the CLI needs for it (credentials, endpoint). */
  env: Record<string, string>;
  /** `--store-endpoint` pointing through `port` instead (a slow proxy), for the kill step. */
  endpointVia(port: number): string[];
  /** The server's port (what a proxy forwards to). */
  port: number;
  /** The same store as an {@link ObjectStore} (tests read and damage objects through it). */
  open(url: string): Promise<ObjectStore>;
}

const TOOLS = { PG_BIN: clientBinDir() };

/** Every key under the store, with its time. */
async function keys(store: ObjectStore): Promise<{ key: string; lastModified?: Date }[]> {
  const out: { key: string; lastModified?: Date }[] = [];
  for await (const o of store.list("")) out.push({ key: o.key, lastModified: o.lastModified });
  return out;
}

function ok(r: CliResult, what: string): void {
  // exit 3: partial, the fixture has one table postgres cannot read
  assert(r.code === 0 || r.code === 3, `${what}: exit ${r.code}\n${r.stderr}\n${r.stdout}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The time from which the next writes are told apart from earlier ones by their LastModified. Some
 * services (Azurite) keep it to the second, so a write later in the second `new Date()` falls in would
 * look older than it: wait past the second of every earlier write and count from the start of the
 * current one.
 */
export async function afterEarlierWrites(): Promise<Date> {
  await sleep(1100);
  return new Date(Math.floor(Date.now() / 1000) * 1000);
}

async function latestManifest(store: ObjectStore): Promise<{ key: string; m: Manifest }> {
  const key = (await listBackups(store)).at(-1)!.key;
  return { key, m: JSON.parse(await new Response(await store.get(key)).text()) as Manifest };
}

/** The `shop` schema of the history steps: 40 orders with an index and a policy, and two more tables. */
const SHOP = `
create schema shop;
create table shop.orders (id serial primary key, code text not null unique, amount numeric(10,2), note text);
create index orders_amount_idx on shop.orders (amount);
alter table shop.orders enable row level security;
create policy "own orders" on shop.orders for select to authenticated using (amount < 10);
insert into shop.orders (code, amount, note)
  select 'code-' || i, i * 1.5, case when i % 7 = 0 then E'multi\\nline ''q''' end from generate_series(1, 40) i;
create table shop.legacy (id int primary key, label text);
insert into shop.legacy select i, 'old ' || i from generate_series(1, 5) i;
create table shop.other (id int primary key);
grant usage, create on schema shop to postgres;
grant select on all tables in schema shop to postgres;
grant select on all sequences in schema shop to postgres;
`;

/** The changes before backups 2 to 5. */
const SHOP_STEPS = [
  "delete from shop.orders where id % 4 = 0; update shop.orders set note = 'changed' where id = 1;",
  "alter table shop.orders add column coupon text;",
  "drop table shop.legacy; insert into shop.other values (1);",
  "insert into shop.orders (code, amount) values ('late-1', 1), ('late-2', 2);",
];

function usageFailure(r: CliResult, pattern: RegExp): void {
  assertEquals(r.code, 2, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 2, r.stderr);
  assert(lines[0].startsWith("error: ") && pattern.test(lines[0]), lines[0]);
  assert(lines[1].startsWith("hint: "), lines[1]);
  assertEquals(r.stdout, "");
}

/**
 * History and point in time on the store `make` gives (its server is not stopped: the matrix
 * after it does that). Registered by {@link storeMatrix}.
 */
function storeHistory(make: () => Promise<StoreFixture>): void {
  Deno.test({
    name: "store history: history --table and restore --as-of --into read the store's backups",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const f = await make();
      const cluster: Cluster = await sharedCluster(17);
      const db = await cluster.createDatabase();
      const { url: dbUrl } = await loadFixture(cluster, db, { app: false });
      await cluster.sql(SHOP, { db });
      const src = { SUPABASE_DB_URL: dbUrl, ...TOOLS, ...f.env };
      const live = { ...src, RESTORE_DB_URL: dbUrl };
      const url = f.url();
      const backup = async () => ok(await runCli(["backup", "--store", url, "--yes"], src), "backup");
      const listed: { backup: string; createdAt: string }[] = [];

      await t.step(`${f.name}: five backups of a changing database`, async () => {
        await backup();
        for (const step of SHOP_STEPS) {
          await cluster.sql(step, { db });
          await backup();
        }
        const r = await runCli(["list", "--store", url, "--json"], src);
        assertEquals(r.code, 0, r.stderr);
        listed.push(...JSON.parse(r.stdout).roots[0].backups.reverse());
        assertEquals(listed.length, 5);
      });

      await t.step(`${f.name}: history lists the backups in which a table changed`, async () => {
        const hist = async (table: string) => {
          const r = await runCli(["history", "--table", table, "--store", url, "--json"], src);
          assertEquals(r.code, 0, r.stderr);
          const doc = JSON.parse(r.stdout);
          assertEquals([doc.backups, doc.root], [5, url]);
          return (doc.changes as { label: string; change: string; rows: number | null }[]).map((e) =>
            `${e.label} ${e.change} ${e.rows}`
          );
        };
        const [b1, b2, b3, b4, b5] = listed.map((b) => b.backup);
        assertEquals(b5, "latest");
        assertEquals(await hist("shop.orders"), [
          `${b1} created 40`,
          `${b2} data 30`,
          `${b3} schema+data 30`,
          "latest data 32",
        ]);
        assertEquals(await hist("shop.legacy"), [`${b1} created 5`, `${b4} dropped null`]);
        const text = await runCli(["history", "--table", "shop.orders", "--store", url], src);
        assertEquals(text.code, 0, text.stderr);
        assert(/shop\.orders: 4 changes in 5 backups \(the table is in 5\)/.test(text.stdout), text.stdout);
        // diff takes times on the store too: backup 1 to backup 2 lost 10 rows and changed one
        const d = await runCli(
          [
            "diff",
            listed[0].createdAt,
            listed[1].createdAt,
            "--table",
            "shop.orders",
            "--store",
            url,
            "--json",
          ],
          src,
        );
        assertEquals(d.code, 1, d.stderr);
        const rows = JSON.parse(d.stdout).tables.find((x: { table: string }) =>
          x.table === "shop.orders"
        ).rows;
        assertEquals([rows.added, rows.removed, rows.changed], [0, 10, 1]);
      });

      await t.step(`${f.name}: restore --as-of --into brings back exactly the deleted rows`, async () => {
        const into = await runCli([
          "restore",
          "--store",
          url,
          "--as-of",
          listed[0].createdAt,
          "--table",
          "shop.orders",
          "--into",
          "shop.orders_before",
        ], live);
        assertEquals(into.code, 0, into.stderr);
        assert(
          into.stdout.startsWith(`restored shop.orders_before (40 row(s)) from ${listed[0].backup} `),
          into.stdout,
        );
        const lost = await cluster.sql(
          "select b.id from shop.orders_before b left join shop.orders o using (id) where o.id is null order by b.id",
          { db },
        );
        assertEquals(lost.trim(), Array.from({ length: 10 }, (_, i) => String(4 * (i + 1))).join("\n"));
        // A time between two backups chooses the older: backup 2, after the delete, before the new column.
        const mid = new Date(new Date(listed[1].createdAt).getTime() + 1).toISOString();
        const r2 = await runCli(
          ["restore", "--store", url, "--as-of", mid, "--table", "shop.orders", "--into", "shop.orders_mid"],
          live,
        );
        assertEquals(r2.code, 0, r2.stderr);
        assert(r2.stdout.includes(`(30 row(s)) from ${listed[1].backup} `), r2.stdout);
        assertEquals(
          (await cluster.sql(
            "select count(*) from information_schema.columns where table_schema = 'shop' and table_name = 'orders_mid' and column_name = 'coupon'",
            { db },
          )).trim(),
          "0",
        );
        // A whole restore as of the future: latest, into an empty database.
        const empty = await cluster.createDatabase();
        const whole = await runCli(["restore", "--store", url, "--as-of", "2999-01-01"], {
          ...src,
          RESTORE_DB_URL: cluster.url({ db: empty }),
        });
        assertEquals(whole.code, 0, whole.stderr);
        assert(/ from latest \(/.test(whole.stdout), whole.stdout);
        assertEquals((await cluster.sql("select count(*) from shop.orders", { db: empty })).trim(), "32");
      });

      await t.step(`${f.name}: bad input is exit 2 with one line and a hint, nothing written`, async () => {
        const relations = () =>
          cluster.sql(
            "select count(*) from pg_class c join pg_namespace n on n.oid = relnamespace where nspname = 'shop'",
            { db },
          );
        const before = await relations();
        const restore = (...extra: string[]) =>
          runCli(["restore", "--table", "shop.orders", "--into", "shop.orders_x", ...extra], live);
        usageFailure(
          await restore("--store", url, "--as-of", "2000-01-01"),
          /no backup in .* was taken at or before 2000-01-01T23:59:59Z/,
        );
        usageFailure(await restore("--store", url, "--as-of", "someday"), /--as-of 'someday' is not a time/);
        usageFailure(
          await runCli(["restore", "--store", url, "--as-of", "2999-01-01", "--table", "shop.nope"], live),
          /shop\.nope/,
        );
        usageFailure(
          await runCli(["history", "--table", "shop.nope", "--store", url], src),
          /table shop\.nope is in none of the 5 backups in /,
        );
        usageFailure(
          await runCli(["history", "--table", "shop.orders", "--store", f.url()], src),
          /^error: no backups in /,
        );
        usageFailure(await restore("--store", f.url(), "--as-of", "2d"), /^error: no backups in /);
        assertEquals(await relations(), before);
      });

      await t.step(
        `${f.name}: a damaged manifest is left out; --as-of its time takes the one before`,
        async () => {
          const store = await f.open(url);
          await store.put(`backups/${listed[2].backup}.json`, {
            bytes: new TextEncoder().encode("{ not json"),
          });
          const r = await runCli(["history", "--table", "shop.orders", "--store", url, "--json"], src);
          assertEquals(r.code, 0, r.stderr);
          const doc = JSON.parse(r.stdout);
          assertEquals(doc.backups, 4);
          // backup 3 (the new column) is gone: backup 4 is where the column appears
          assertEquals(
            (doc.changes as { label: string; change: string }[]).map((e) => `${e.label} ${e.change}`),
            [
              `${listed[0].backup} created`,
              `${listed[1].backup} data`,
              `${listed[3].backup} schema+data`,
              "latest data",
            ],
          );
          const mid = new Date(new Date(listed[2].createdAt).getTime() + 1).toISOString();
          const dry = await runCli(
            [
              "restore",
              "--store",
              url,
              "--as-of",
              mid,
              "--table",
              "shop.orders",
              "--into",
              "shop.o3",
              "--dry-run",
            ],
            live,
          );
          assertEquals(dry.code, 0, dry.stderr);
          assert(dry.stdout.includes(listed[1].backup) && !dry.stdout.includes(listed[2].backup), dry.stdout);
        },
      );
    },
  });
}

/**
 * Runs the history steps ({@link storeHistory}), then the matrix, for the store `make` gives (one
 * server and one cluster for all steps).
 */
export function storeMatrix(make: () => Promise<StoreFixture & { stop(): Promise<void> }>): void {
  storeHistory(make);
  Deno.test({
    name: "store matrix: backup, unchanged, changed, list, verify, restore, drill, prune, kill",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const f = await make();
      const cluster: Cluster = await sharedCluster(17);
      try {
        const db = await cluster.createDatabase();
        const fx = await loadFixture(cluster, db);
        const src = { SUPABASE_DB_URL: fx.url, ...TOOLS, ...f.env };
        const url = f.url();
        const store = await f.open(url);
        const backup = (extra: string[] = [], u = url) =>
          runCli(["backup", "--store", u, "--yes", ...extra], src);

        let firstKey = "";
        await t.step(`${f.name}: a backup uploads blobs, then its manifest; no lock is left`, async () => {
          const r = await backup();
          ok(r, "backup");
          const all = (await keys(store)).map((k) => k.key);
          const manifests = all.filter((k) => k.startsWith("backups/"));
          assertEquals(manifests.length, 1, all.join("\n"));
          firstKey = manifests[0];
          assertEquals(all.filter((k) => k.startsWith("locks/")), []);
          const { m } = await latestManifest(store);
          for (const [rel, e] of Object.entries(m.files)) {
            assert(all.includes(blobKey(storedOf(e).sha256)), `blob of ${rel} is in the store`);
          }
          assert(r.stdout.includes(`${url}/${firstKey}`), r.stdout);
        });

        await t.step(`${f.name}: an unchanged backup uploads only its manifest`, async () => {
          const before = await afterEarlierWrites();
          const r = await backup();
          ok(r, "unchanged backup");
          const written = (await keys(store)).filter((k) => k.lastModified && k.lastModified >= before).map((
            k,
          ) => k.key);
          assertEquals(written.length, 1, `written: ${written.join(", ")}\n${r.stderr}`);
          assert(written[0].startsWith("backups/") && written[0] !== firstKey, written[0]);
          assert(/uploaded 0 file\(s\)/.test(r.stdout), r.stdout);
        });

        await t.step(
          `${f.name}: an unchanged backup whose dumps are cut in parts uploads only its manifest`,
          async () => {
            const cut = ["--max-file-size", "8KB"];
            const u = f.url(); // a store of its own: the steps below count the backups of the other
            const s = await f.open(u);
            ok(await backup(cut, u), "backup in parts");
            const { m } = await latestManifest(s);
            assert(m.schemas.some((x) => (x.dumpParts?.length ?? 0) > 1), "a dump is cut in parts");
            const before = await afterEarlierWrites();
            const r2 = await backup(cut, u);
            ok(r2, "unchanged backup in parts");
            const written = (await keys(s)).filter((k) => k.lastModified && k.lastModified >= before);
            assertEquals(written.map((k) => k.key).filter((k) => !k.startsWith("backups/")), [], r2.stderr);
            assert(/uploaded 0 file\(s\)/.test(r2.stdout), r2.stdout);
          },
        );

        await t.step(
          `${f.name}: a damaged previous manifest is a warning in the summary; the one before is reused`,
          async () => {
            const u = f.url(); // a store of its own, as above
            const s = await f.open(u);
            ok(await backup([], u), "first backup");
            await sleep(1100);
            ok(await backup([], u), "second backup");
            const { key } = await latestManifest(s);
            // damaged: cut in the middle, as an upload that broke off would leave it
            const text = await new Response(await s.get(key)).text();
            await s.put(key, { bytes: new TextEncoder().encode(text.slice(0, text.length >> 1)) });
            const before = await afterEarlierWrites();
            const r = await backup(["--json"], u);
            ok(r, "backup after the damaged one");
            const [summary] = JSON.parse(r.stdout);
            assertEquals(summary.warnings.length, 1, r.stdout);
            assert(summary.warnings[0].includes(`${u}/${key}`), summary.warnings[0]);
            assert(
              /cannot be read/.test(summary.warnings[0]) &&
                /reused from the backup before/.test(summary.warnings[0]),
              summary.warnings[0],
            );
            assert(r.stderr.includes("warning: the previous backup's manifest cannot be read"), r.stderr);
            // reuse did not silently stop: only the new manifest was written
            assert(
              summary.notes.some((n: string) => /^uploaded 0 file\(s\)/.test(n)),
              summary.notes.join("\n"),
            );
            const written = (await keys(s)).filter((k) => k.lastModified && k.lastModified >= before);
            assertEquals(written.map((k) => k.key).filter((k) => !k.startsWith("backups/")), [], r.stderr);
            // and nothing is lost: the new backup verifies, every file against its blob
            const v = await runCli(["verify", "--store", u], src);
            assertEquals(v.code, 0, v.stderr + v.stdout);
          },
        );

        await t.step(
          `${f.name}: a changed backup uploads the changed table's files and the manifest`,
          async () => {
            await cluster.sql("insert into public.waitlist (email) values ('new@example.com')", { db });
            const before = await afterEarlierWrites();
            const r = await backup();
            ok(r, "changed backup");
            const written = (await keys(store)).filter((k) => k.lastModified && k.lastModified >= before).map(
              (
                k,
              ) => k.key,
            );
            const { m } = await latestManifest(store);
            const data = m.schemas.find((s) =>
              s.name === "public"
            )!.tables.find((x) => x.name === "waitlist")!
              .dataFiles[0];
            assert(
              written.includes(blobKey(storedOf(m.files[data]).sha256)),
              `waitlist data uploaded: ${written}`,
            );
            assert(
              written.length < Object.keys(m.files).length / 2,
              `only changes uploaded: ${written.length}`,
            );
          },
        );

        await t.step(`${f.name}: list shows three backups, the newest as latest`, async () => {
          const r = await runCli(["list", "--store", url, "--json"], src);
          assertEquals(r.code, 0, r.stderr);
          const backups = JSON.parse(r.stdout).roots[0].backups;
          assertEquals(backups.length, 3);
          assertEquals(backups[0].backup, "latest");
          const text = await runCli(["list", "--store", url], src);
          assert(text.stdout.includes("latest + 2 archives"), text.stdout);
          // diff reads both sides from the store: the changed backup added one waitlist row
          const d = await runCli(["diff", "--store", url, "--table", "public.waitlist"], src);
          assertEquals(d.code, 1, d.stderr + d.stdout);
          assert(/public\.waitlist/.test(d.stdout) && /\b1 added\b|\+1/.test(d.stdout), d.stdout);
        });

        await t.step(
          `${f.name}: of two backups taken in one second the newer is latest, every time`,
          async () => {
            // Copies of a real manifest, dated in one second, their names in the wrong order: the
            // older one's source and random suffix sort after the newer one's.
            const { m } = await latestManifest(store);
            const u = f.url();
            const s = await f.open(u);
            const put = async (createdAt: string, repo: string) => {
              const copy = { ...m, createdAt, source: { ...m.source!, repo } };
              const suffix = crypto.randomUUID().slice(0, 8);
              const key = manifestKey(
                copy,
                repo.startsWith("z") ? `f${suffix.slice(1)}` : `0${suffix.slice(1)}`,
              );
              await s.put(key, { bytes: new TextEncoder().encode(JSON.stringify(copy)) });
              return key;
            };
            for (let i = 0; i < 5; i++) {
              const second = `2026-01-0${i + 1}T03:04:05`;
              const older = await put(`${second}.${100 + i}Z`, "zz/older");
              const newer = await put(`${second}.${900 + i}Z`, "aa/newer");
              assert(older > newer, "by name the older would be latest");
              const r = await runCli(["list", "--store", u, "--json"], src);
              assertEquals(r.code, 0, r.stderr);
              const listed = JSON.parse(r.stdout).roots[0].backups;
              assertEquals(listed.length, 2 * (i + 1));
              assertEquals([listed[0].backup, listed[0].path], ["latest", `${u}/${newer}`]);
              assertEquals(listed[1].path, `${u}/${older}`);
            }
          },
        );

        await t.step(
          `${f.name}: verify streams every blob; a corrupted and a missing blob are named`,
          async () => {
            const all = await runCli(["verify", "--store", url, "--all"], src);
            assertEquals(all.code, 0, all.stderr + all.stdout);
            assert(all.stdout.includes("3/3 backups verified"), all.stdout);
            const { m } = await latestManifest(store);
            const data = m.schemas.find((s) =>
              s.name === "public"
            )!.tables.find((x) => x.name === "waitlist")!
              .dataFiles[0];
            const key = blobKey(storedOf(m.files[data]).sha256);
            const good = new Uint8Array(await new Response(await store.get(key)).arrayBuffer());
            const bad = good.slice();
            bad[0] ^= 1;
            await store.put(key, { bytes: bad });
            const r = await runCli(["verify", "--store", url], src);
            assertEquals(r.code, 1, r.stdout);
            assert(r.stderr.includes(data) && /checksum/.test(r.stderr), r.stderr);
            await store.delete(key);
            const gone = await runCli(["verify", "--store", url], src);
            assertEquals(gone.code, 1, gone.stdout);
            assert(gone.stderr.includes(data) && gone.stderr.includes(key), gone.stderr);
            await store.put(key, { bytes: good });
            assertEquals((await runCli(["verify", "--store", url], src)).code, 0);
          },
        );

        await t.step(`${f.name}: restore and the drill read the latest backup from the store`, async () => {
          const want = await tableFingerprints(cluster, db);
          const target = await cluster.createDatabase();
          const r = await runCli([
            "restore",
            "--store",
            url,
            "--target-url",
            cluster.url({ db: target }),
            "--roles",
          ], src);
          assertEquals(r.code, 0, r.stderr);
          const got = await tableFingerprints(cluster, target);
          for (const [name, fp] of got) if (want.has(name)) assertEquals(fp, want.get(name), name);
          assert(got.size > 10, `tables restored: ${got.size}`);
          const scratch = await cluster.createDatabase();
          const d = await runCli([
            "verify",
            "--store",
            url,
            "--drill",
            "--target-url",
            cluster.url({ db: scratch }),
          ], src);
          assertEquals(d.code, 0, d.stderr + d.stdout);
          assert(/(\d+)\/\1 tables match/.test(d.stdout), d.stdout);
        });

        await t.step(
          `${f.name}: encrypted backups: unchanged costs a manifest; restore with the identity`,
          async () => {
            const dir = await Deno.makeTempDir();
            const id = await generateIdentity();
            await Deno.writeTextFile(`${dir}/id.txt`, `${id}\n`, { mode: 0o600 });
            const enc = ["--encrypt-to", await identityToRecipient(id), "--compress", "gzip"];
            const u = f.url();
            const s = await f.open(u);
            ok(await backup(enc, u), "encrypted backup");
            // counted by key, not by LastModified: an encrypted blob written again would have a new key
            const first = new Set((await keys(s)).map((k) => k.key));
            const { m: m1 } = await latestManifest(s);
            const again = await backup(enc, u);
            ok(again, "encrypted unchanged backup");
            const written = (await keys(s)).map((k) => k.key).filter((k) => !first.has(k));
            const { m: m2 } = await latestManifest(s);
            const changed = Object.keys(m2.files).filter((rel) =>
              storedOf(m2.files[rel]).sha256 !== (m1.files[rel] && storedOf(m1.files[rel]).sha256)
            );
            const why = `written: ${written.join(", ")}\nchanged: ${
              changed.join(", ")
            }\n${again.stdout}${again.stderr}`;
            assertEquals(written.length, 1, why);
            assert(written[0].startsWith("backups/"), why);
            assert(/uploaded 0 file\(s\)/.test(again.stdout), why);
            const noId = await runCli(["verify", "--store", u], src);
            assertEquals(noId.code, 0, noId.stderr + noId.stdout);
            const target = await cluster.createDatabase();
            const r = await runCli(
              [
                "restore",
                "--store",
                u,
                "--identity-file",
                `${dir}/id.txt`,
                "--target-url",
                cluster.url({ db: target }),
              ],
              src,
            );
            assertEquals(r.code, 0, r.stderr);
            const want = await tableFingerprints(cluster, db, ["public.profiles", "public.waitlist"]);
            assertEquals(
              await tableFingerprints(cluster, target, ["public.profiles", "public.waitlist"]),
              want,
            );
          },
        );

        await t.step(
          `${f.name}: prune keeps what a running backup needs, then removes unreferenced blobs`,
          async () => {
            // a backup that is running holds a lock: prune removes manifests but no blob
            const lock = "locks/backup-0123456789abcdef.json";
            await store.put(lock, { bytes: new TextEncoder().encode("{}") });
            await cluster.sql("insert into public.waitlist (email) values ('newer@example.com')", { db });
            const p = await runCli(["prune", "--store", url, "--keep-last", "1"], src);
            assertEquals(p.code, 0, p.stderr);
            assert(p.stdout.includes("a backup is running"), p.stdout);
            assertEquals((await runCli(["verify", "--store", url, "--all"], src)).code, 0);
            await store.delete(lock);
            // a real backup and a prune at once: afterwards every backup verifies
            const [b, q] = await Promise.all([
              backup(),
              runCli(["prune", "--store", url, "--keep-last", "1"], src),
            ]);
            ok(b, "concurrent backup");
            assertEquals(q.code, 0, q.stderr);
            const v = await runCli(["verify", "--store", url, "--all"], src);
            assertEquals(v.code, 0, v.stdout + v.stderr);
            // nothing running: the blobs of pruned backups go, what is kept still verifies
            const last = await runCli(["prune", "--store", url, "--keep-last", "1"], src);
            assertEquals(last.code, 0, last.stderr);
            assert(/removed [1-9]\d* unreferenced blob/.test(last.stdout + q.stdout), last.stdout + q.stdout);
            const left = (await keys(store)).map((k) => k.key);
            const kept = left.filter((k) => k.startsWith("backups/"));
            assertEquals(kept.length, 2, left.join("\n"));
            const used = new Set<string>();
            for (const k of kept) {
              const m = JSON.parse(await new Response(await store.get(k)).text()) as Manifest;
              for (const e of Object.values(m.files)) used.add(blobKey(storedOf(e).sha256));
            }
            assertEquals(left.filter((k) => k.startsWith("blobs/") && !used.has(k)), []);
            assertEquals((await runCli(["verify", "--store", url, "--all"], src)).code, 0);
          },
        );

        await t.step(
          `${f.name}: a backup killed mid-upload leaves no backup; the next run succeeds`,
          async () => {
            const { startProxy } = await import("./proxy.ts");
            const proxy = startProxy(f.port, 150);
            const u = f.url();
            const s = await f.open(u);
            try {
              const child = new Deno.Command(Deno.execPath(), {
                args: [
                  "run",
                  "--allow-all",
                  "--quiet",
                  `${REPO}/backup.ts`,
                  "backup",
                  "--store",
                  u,
                  "--yes",
                  "--jobs",
                  "1",
                  ...f.endpointVia(proxy.port),
                ],
                cwd: REPO,
                clearEnv: true,
                env: {
                  PATH: "/usr/local/bin:/usr/bin:/bin",
                  HOME: Deno.env.get("HOME") ?? "/root",
                  NO_COLOR: "1",
                  ...src,
                },
                stdout: "null",
                stderr: "null",
              }).spawn();
              let blobs = 0;
              for (let i = 0; i < 600 && blobs < 3; i++) {
                await sleep(100);
                blobs = (await keys(s)).filter((k) => k.key.startsWith("blobs/")).length;
              }
              assert(blobs >= 3, "the backup started uploading");
              child.kill("SIGKILL");
              await child.status;
              const after = (await keys(s)).map((k) => k.key);
              assertEquals(after.filter((k) => k.startsWith("backups/")), [], "no partial backup is visible");
              const l = await runCli(["list", "--store", u, "--json"], src);
              assertEquals(JSON.parse(l.stdout).roots[0].backups, []);
            } finally {
              await proxy.close();
            }
            ok(await backup([], u), "the next backup");
            assertEquals((await runCli(["verify", "--store", u], src)).code, 0);
          },
        );
      } finally {
        await f.stop();
      }
    },
  });
}
