/**
 * Cutting one pg_dump over several schemas into one archive per schema (lib/backup/group.ts,
 * lib/pg/archive.ts), against real pg_dump and pg_restore on PostgreSQL 15 and 17 with the Supabase
 * fixture: the group's one `--schema` pattern (an alternation of quoted names) selects every schema,
 * each cut archive lists the same entries as `pg_dump --schema` of that schema alone, and pg_restore
 * writes the same script from it.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { clientBinDir } from "../dev/pgenv.ts";
import { readArchive, writeArchive } from "../lib/pg/archive.ts";
import { routeEntries } from "../lib/backup/group.ts";
import { patternIdent, schemaPatterns, tablePatterns } from "../lib/backup/plan.ts";
import { mergeSlices } from "../lib/backup/slice.ts";
import { sharedCluster } from "./support/cluster.ts";
import { loadFixture } from "./support/fixture.ts";

const BIN = clientBinDir();

async function run(cmd: string, args: string[], env: Record<string, string>): Promise<string> {
  const o = await new Deno.Command(join(BIN, cmd), { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!o.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(o.stderr)}`);
  return dec.decode(o.stdout);
}

/** `pg_restore -l` without the header and the dump ids, sorted. */
function entries(list: string): string[] {
  return list.split("\n").filter((l) => /^\d+;/.test(l)).map((l) => l.replace(/^\d+; /, "")).sort();
}

for (const major of [15, 17] as const) {
  Deno.test({
    name: `PG ${major}: one pg_dump over all schemas, cut per schema, holds what pg_dump --schema holds`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const c = await sharedCluster(major);
      const db = await c.createDatabase();
      await loadFixture(c, db);
      const u = new URL(c.url({ db }));
      const env = {
        PGHOST: u.hostname,
        PGPORT: u.port,
        PGUSER: decodeURIComponent(u.username),
        PGPASSWORD: decodeURIComponent(u.password),
        PGDATABASE: db,
      };
      const schemas = (await c.sql(
        "select nspname from pg_namespace where nspname !~ '^pg_' and nspname <> 'information_schema' order by 1",
        { db },
      )).split("\n").filter(Boolean);
      const exts = (await c.sql(
        "select e.extname || '|' || n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace " +
          "where e.extname <> 'plpgsql' and n.nspname <> 'pg_catalog'",
        { db },
      )).split("\n").filter(Boolean).map((l) => l.split("|") as [string, string]);
      const extensionSchema = new Map(exts);
      const sel = (names: string[]) => [
        ...schemaPatterns(names).map((p) => `--schema=${p}`),
        ...exts.filter(([, s]) => names.includes(s)).map(([e]) => `--extension=${patternIdent(e)}`),
      ];
      const dir = await Deno.makeTempDir({ prefix: "sb-archive-cut-" });
      const group = join(dir, "group.dump");
      await run("pg_dump", ["--format=custom", `--file=${group}`, ...sel(schemas)], env);
      const archive = await readArchive(group);
      const routed = routeEntries(archive.entries, schemas, extensionSchema);
      let compared = 0;
      for (const [i, s] of schemas.entries()) {
        const alone = join(dir, `${i}.alone.dump`);
        await run("pg_dump", ["--format=custom", `--file=${alone}`, ...sel([s])], env);
        const cut = join(dir, `${i}.cut.dump`);
        await writeArchive(group, archive, routed.get(s)!, cut);
        const [a, b] = [await run("pg_restore", ["-l", alone], {}), await run("pg_restore", ["-l", cut], {})];
        assertEquals(entries(b), entries(a), `entries of ${s}`);
        const script = (f: string) => run("pg_restore", ["--restrict-key=k", "-f", "-", f], {});
        assertEquals(await script(cut), await script(alone), `script of ${s}`);
        compared++;
      }
      assert(compared >= 5 && schemas.includes('Sales "EU" é'), `${compared} schemas`);
      await Deno.remove(dir, { recursive: true });
    },
  });
}

for (const major of [15, 17] as const) {
  Deno.test({
    name: `PG ${major}: a schema's data read by slices and merged gives the entries and rows of one pg_dump`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const c = await sharedCluster(major);
      const db = await c.createDatabase();
      await loadFixture(c, db);
      const u = new URL(c.url({ db }));
      const env = {
        PGHOST: u.hostname,
        PGPORT: u.port,
        PGUSER: decodeURIComponent(u.username),
        PGPASSWORD: decodeURIComponent(u.password),
        PGDATABASE: db,
      };
      const tables = (await c.sql(
        "select relname from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' order by 1",
        { db },
      )).split("\n").filter(Boolean);
      assert(tables.length >= 6, tables.join());
      const slices = [tables.filter((_, i) => i % 3 === 1), tables.filter((_, i) => i % 3 === 2)];
      const dir = await Deno.makeTempDir({ prefix: "sb-archive-slice-" });
      const alone = join(dir, "alone.dump");
      await run("pg_dump", ["--format=custom", `--file=${alone}`, "--schema=public"], env);
      const main = join(dir, "main.dump");
      await run("pg_dump", [
        "--format=custom",
        `--file=${main}`,
        "--schema=public",
        ...tablePatterns("public", slices.flat()).map((p) => `--exclude-table-data=${p}`),
      ], env);
      const parts = [];
      for (const [i, names] of slices.entries()) {
        const path = join(dir, `slice-${i}.dump`);
        await run("pg_dump", [
          "--format=custom",
          `--file=${path}`,
          "--data-only",
          ...tablePatterns("public", names).map((p) => `--table=${p}`),
        ], env);
        parts.push({ path, archive: await readArchive(path) });
      }
      const archive = await readArchive(main);
      const merged = join(dir, "merged.dump");
      await writeArchive(main, archive, mergeSlices(archive, parts), merged);
      const [a, b] = [
        await run("pg_restore", ["-l", alone], {}),
        await run("pg_restore", ["-l", merged], {}),
      ];
      assertEquals(entries(b), entries(a));
      // Each entry alone gives the same script from both archives (the data entries are in another order).
      const line = (list: string, body: string) =>
        list.split("\n").find((l) => l.replace(/^\d+; /, "") === body)!;
      const bodies = entries(a).filter((l) => / TABLE DATA public /.test(l));
      assertEquals(bodies.length, tables.length);
      for (const body of bodies) {
        const one = async (dump: string, list: string) => {
          const f = join(dir, "one.list");
          await Deno.writeTextFile(f, line(list, body) + "\n");
          return await run("pg_restore", ["--restrict-key=k", "-L", f, "-f", "-", dump], {});
        };
        assertEquals(await one(merged, b), await one(alone, a), body);
      }
      // pg_restore of the whole merged archive into a database loads every row.
      const target = await c.createDatabase();
      await run("pg_restore", [
        "--no-owner",
        "--no-acl",
        "-d",
        target,
        "--section=pre-data",
        "--section=data",
        merged,
      ], {
        ...env,
        PGDATABASE: target,
      }).catch(() => "");
      for (const t of tables) {
        assertEquals(
          await c.sql(`select count(*) from public.${patternIdent(t)}`, { db: target }),
          await c.sql(`select count(*) from public.${patternIdent(t)}`, { db }),
          t,
        );
      }
      await Deno.remove(dir, { recursive: true });
    },
  });
}
