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
import { patternIdent, schemaPatterns } from "../lib/backup/plan.ts";
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
