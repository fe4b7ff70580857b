import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import type { Manifest } from "../../../lib/store/manifest.ts";
import {
  catalogError,
  type CatalogScope,
  checkEntry,
  formatCatalogPlan,
  globalKey,
  inCatalogOrder,
  planCatalog,
  serverWrapper,
} from "../../../lib/restore/catalog.ts";
import type { RestoreRequest, TargetState } from "../../../lib/restore/plan.ts";
import { parseScript, scriptText } from "../../../lib/restore/script.ts";

/** An entry as pg_dump and pg_restore write it. */
function entry(name: string, type: string, schema: string, body: string, owner = "postgres"): string {
  return `--\n-- Name: ${name}; Type: ${type}; Schema: ${schema}; Owner: ${owner}\n--\n\n${body}\n\n`;
}

const PREAMBLE =
  "\\restrict abc\n\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n";
const AM_HEAP2 = "SET default_tablespace = '';\n\nSET default_table_access_method = heap2;\n\n";
const AM_HEAP = "SET default_tablespace = '';\n\nSET default_table_access_method = heap;\n\n";

Deno.test("inCatalogOrder: blocks of several schema scripts in catalog.sql's order, SET state carried", () => {
  // pg_restore of schema a: the SET for a.t stands at the end of the block before it.
  const a = parseScript(
    PREAMBLE + entry("a", "SCHEMA", "-", "CREATE SCHEMA a;") + AM_HEAP2 +
      entry("t", "TABLE", "a", "CREATE TABLE a.t (id int);") +
      entry("w", "VIEW", "a", "CREATE VIEW a.w AS SELECT 1;") +
      entry("w_note", "COMMENT", "a", "COMMENT ON VIEW a.w IS 'x';"),
  );
  // Schema b's first table is its first entry: its SET is in the preamble.
  const b = parseScript(
    PREAMBLE + AM_HEAP + entry("u", "TABLE", "b", "CREATE TABLE b.u (id int);") +
      entry("v", "VIEW", "b", "CREATE VIEW b.v AS SELECT 1;"),
  );
  const catalog = parseScript(
    PREAMBLE + entry("a", "SCHEMA", "-", "CREATE SCHEMA a;") + entry("u", "TABLE", "b", "") +
      entry("t", "TABLE", "a", "") + entry("v", "VIEW", "b", "") + entry("w", "VIEW", "a", ""),
  );
  const merged = inCatalogOrder([a, b], catalog);
  assertEquals(merged.blocks.map((x) => `${x.schema}.${x.name}`), [
    "-.a",
    "b.u",
    "a.t",
    "b.v",
    "a.w",
    "a.w_note",
  ]);
  assert(!/default_table_access_method/.test(merged.preamble), merged.preamble);
  const text = scriptText(merged);
  const before = (what: string) => {
    const i = text.indexOf(what);
    const sets = [...text.slice(0, i).matchAll(/SET default_table_access_method = (\w+);/g)];
    return sets.at(-1)?.[1];
  };
  assertEquals(before("CREATE TABLE b.u"), "heap");
  assertEquals(before("CREATE TABLE a.t"), "heap2");
  // Where the state changes between blocks: before b.u, a.t, b.v and a.w.
  assertEquals((text.match(/SET default_table_access_method/g) ?? []).length, 4);
  // Nothing lost or added but the moved SETs.
  for (
    const s of ["CREATE SCHEMA a;", "CREATE VIEW b.v", "COMMENT ON VIEW a.w", "SET statement_timeout = 0;"]
  ) {
    assert(text.includes(s), s);
  }
});

Deno.test("inCatalogOrder: without matches, the scripts keep their order", () => {
  const a = parseScript(PREAMBLE + entry("t", "TABLE", "a", "CREATE TABLE a.t ();"));
  const b = parseScript(PREAMBLE + entry("u", "TABLE", "b", "CREATE TABLE b.u ();"));
  const merged = inCatalogOrder([b, a], parseScript(PREAMBLE));
  assertEquals(merged.blocks.map((x) => x.name), ["u", "t"]);
});

const MANIFEST = {
  pgDumpVersion: "pg_dump (PostgreSQL) 17.12",
  database: { name: "postgres", serverVersion: "17.4", sizeBytes: 1, host: "x", settings: [] },
  schemas: [{ name: "auth", managed: true }, { name: "a" }, { name: "extensions", managed: true }],
  userMappings: [
    { server: "remote", user: "postgres", options: ["user", "password"] },
    { server: "gone", user: "postgres", options: null },
  ],
} as unknown as Manifest;

const REQ: RestoreRequest = {
  schemas: [],
  tables: [],
  roles: false,
  dataOnly: false,
  schemaOnly: false,
  clean: false,
};

function target(over: Partial<TargetState> = {}): TargetState {
  return {
    serverMajor: 17,
    user: "postgres",
    superuser: true,
    roles: new Set(["postgres", "supabase_admin"]),
    assumable: new Set(["postgres"]),
    schemas: new Map([["public", "pg_database_owner"]]),
    tables: new Map(),
    globals: new Set(),
    ...over,
  };
}

const SCOPE: CatalogScope = {
  ddl: new Set(["a"]),
  excluded: new Set(),
  hasTable: (s, t) => s === "a" && t === "t",
  supabase: false,
  managed: new Set(["auth", "extensions"]),
};

const CATALOG = parseScript(
  PREAMBLE +
    entry(
      "heap2",
      "ACCESS METHOD",
      "-",
      "CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler;",
      "-",
    ) +
    entry("ACCESS METHOD heap2", "COMMENT", "-", "COMMENT ON ACCESS METHOD heap2 IS 'x';", "") +
    entry(
      "remote",
      "SERVER",
      "-",
      "CREATE SERVER remote FOREIGN DATA WRAPPER postgres_fdw;\n\nALTER SERVER remote OWNER TO postgres;",
    ) +
    entry("CAST (a.mood AS text)", "CAST", "-", "CREATE CAST (a.mood AS text) WITH INOUT;", "-") +
    AM_HEAP2 + entry("t", "TABLE", "a", "CREATE TABLE a.t (id int);") +
    entry("u", "TABLE", "a", "CREATE TABLE a.u (id int);") +
    entry("pub_app", "PUBLICATION", "-", "CREATE PUBLICATION pub_app WITH (publish = 'insert');") +
    entry("pub_app t", "PUBLICATION TABLE", "a", "ALTER PUBLICATION pub_app ADD TABLE ONLY a.t;") +
    entry("pub_app u", "PUBLICATION TABLE", "a", "ALTER PUBLICATION pub_app ADD TABLE ONLY a.u;") +
    entry(
      "FOREIGN DATA WRAPPER postgres_fdw",
      "ACL",
      "-",
      "GRANT ALL ON FOREIGN DATA WRAPPER postgres_fdw TO postgres;",
    ) +
    entry(
      "DEFAULT PRIVILEGES FOR TABLES",
      "DEFAULT ACL",
      "-",
      "ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin GRANT SELECT ON TABLES TO postgres;",
      "supabase_admin",
    ) +
    entry(
      "issue_pg_cron_access",
      "EVENT TRIGGER",
      "-",
      "CREATE EVENT TRIGGER issue_pg_cron_access ON ddl_command_end\n   EXECUTE FUNCTION extensions.grant_pg_cron_access();",
      "supabase_admin",
    ) +
    entry(
      "audit",
      "EVENT TRIGGER",
      "-",
      "CREATE EVENT TRIGGER audit ON ddl_command_start\n   EXECUTE FUNCTION a.on_ddl();",
    ),
);

const actions = (p: ReturnType<typeof planCatalog>) =>
  p.objects.map((o) => `${o.type} ${o.name}: ${o.action}`);

Deno.test("planCatalog as superuser into an empty database: every object created, mappings named", () => {
  const p = planCatalog("catalog.sql", CATALOG, MANIFEST, REQ, target(), SCOPE);
  assertEquals(actions(p), [
    "ACCESS METHOD heap2: create",
    "SERVER remote: create",
    "CAST (a.mood AS text): create",
    "PUBLICATION pub_app: create",
    "DEFAULT ACL default privileges of role supabase_admin (database-wide): for tables: create",
    // its function's schema (extensions) is neither restored nor in the target: left out, said why
    "EVENT TRIGGER issue_pg_cron_access: skip",
    "EVENT TRIGGER audit: create",
    "ACL privileges on foreign data wrapper postgres_fdw: create",
  ]);
  assertEquals(
    p.objects[5].reason,
    "its function is in schema extensions, which is neither restored nor in the target",
  );
  // restored with its schema (a whole backup), or into a target that has the schema: created
  const withExt = planCatalog("catalog.sql", CATALOG, MANIFEST, REQ, target(), {
    ...SCOPE,
    ddl: new Set(["a", "extensions"]),
  });
  assertEquals(withExt.objects[5].action, "create");
  const am = p.objects[0];
  assertEquals(am.reason, "2 table(s) use it");
  assertEquals(am.entries.map((i) => CATALOG.blocks[i].type), ["ACCESS METHOD", "COMMENT"]);
  // a.u is not restored: not added to the publication, and said so
  assertEquals(p.objects[3].entries.map((i) => CATALOG.blocks[i].name), ["pub_app", "pub_app t"]);
  assert(p.notes.includes("publication pub_app: table a.u is not added (not restored)"), p.notes.join("\n"));
  // only the mapping of a restored server; no transaction_timeout note on 17
  assertEquals(p.userMappings.map((u) => u.server), ["remote"]);
  assert(
    p.notes.some((n) => n.startsWith("user mapping for postgres on server remote (options user, password)")),
  );
  assert(!p.notes.some((n) => n.includes("transaction_timeout")));
  assertEquals(catalogError(p, target()), undefined);
  assertEquals(formatCatalogPlan(p).slice(0, 4), [
    "  definitions in catalog.sql's order (one dependency order across schemas)",
    "  database-level objects (catalog.sql):",
    "    access method heap2: create (2 table(s) use it)",
    "    server remote: create",
  ]);
});

Deno.test("planCatalog into a Supabase project as postgres: Supabase's own skipped, the rest decided for postgres", () => {
  const t = target({
    serverMajor: 15,
    superuser: false,
    globals: new Set([globalKey("PUBLICATION", "pub_app"), globalKey("ACCESS METHOD", "heap2")]),
  });
  const p = planCatalog("catalog.sql", CATALOG, MANIFEST, REQ, t, { ...SCOPE, supabase: true });
  assertEquals(actions(p), [
    "ACCESS METHOD heap2: present",
    "SERVER remote: create",
    "CAST (a.mood AS text): create",
    "PUBLICATION pub_app: present",
    "DEFAULT ACL default privileges of role supabase_admin (database-wide): for tables: skip",
    "EVENT TRIGGER issue_pg_cron_access: skip",
    "EVENT TRIGGER audit: skip",
    "ACL privileges on foreign data wrapper postgres_fdw: create",
  ]);
  assertEquals(p.objects[5].reason, "Supabase's own: the target project has its own");
  assert(p.objects[6].reason.startsWith("only a superuser may create an event trigger"));
  // the publication is the target's; the restored table is still added to it
  assertEquals(p.objects[3].entries.map((i) => CATALOG.blocks[i].name), ["pub_app t"]);
  assert(
    formatCatalogPlan(p).includes(
      "    publication pub_app: in the target, left as it is (1 of its table(s) or schema(s) added to it)",
    ),
  );
  assert(
    p.notes.includes(
      "SET transaction_timeout (written by pg_dump 17) is left out: PostgreSQL 15 does not have it",
    ),
  );
});

Deno.test("planCatalog: an access method tables need, as a non-superuser, refuses the restore (exit 2)", () => {
  const t = target({ superuser: false });
  const p = planCatalog("catalog.sql", CATALOG, MANIFEST, REQ, t, SCOPE);
  assertEquals(p.objects[0].action, "refuse");
  const e = catalogError(p, t);
  assert(e instanceof BackupError);
  assertEquals(e.exitCode, 2);
  assert(
    e.message.startsWith("the restore needs access method heap2 (2 table(s) use it, and only a superuser"),
    e.message,
  );
  // unused: skipped instead
  const none = planCatalog("catalog.sql", CATALOG, MANIFEST, REQ, t, { ...SCOPE, ddl: new Set() });
  assertEquals(none.objects[0].action, "skip");
});

Deno.test("planCatalog: a server on a wrapper of the target's that the role may not use refuses the restore, with the GRANT", () => {
  const has = new Set([
    globalKey("ACCESS METHOD", "heap2"),
    globalKey("FOREIGN DATA WRAPPER", "postgres_fdw"),
  ]);
  const t = target({ superuser: false, user: "restorer", globals: has, usableWrappers: new Set() });
  const p = planCatalog("catalog.sql", CATALOG, MANIFEST, REQ, t, SCOPE);
  assertEquals(p.objects[1].action, "refuse");
  assertEquals(p.objects[1].reason, "restorer may not use its foreign data wrapper postgres_fdw (no USAGE)");
  const e = catalogError(p, t);
  assert(e instanceof BackupError);
  assertEquals(e.exitCode, 2);
  assertEquals(
    e.message,
    "the restore needs server remote (restorer may not use its foreign data wrapper postgres_fdw (no USAGE)); nothing was written",
  );
  assertEquals(
    e.hint,
    "have a superuser run GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO restorer; in the target, then run the restore again as restorer",
  );
  // with USAGE, or a wrapper the target lacks (an extension of the restore creates it, owned by the role): created
  for (
    const over of [{ usableWrappers: new Set(["postgres_fdw"]) }, {
      globals: new Set([globalKey("ACCESS METHOD", "heap2")]),
    }]
  ) {
    const ok = planCatalog("catalog.sql", CATALOG, MANIFEST, REQ, { ...t, ...over }, SCOPE);
    assertEquals(ok.objects[1].action, "create");
  }
  // a superuser needs no grant
  assertEquals(
    planCatalog(
      "catalog.sql",
      CATALOG,
      MANIFEST,
      REQ,
      target({ globals: has, usableWrappers: new Set() }),
      SCOPE,
    ).objects[1].action,
    "create",
  );
});

Deno.test("serverWrapper reads the wrapper's name token by token, whatever the names hold", () => {
  assertEquals(serverWrapper("CREATE SERVER remote FOREIGN DATA WRAPPER postgres_fdw;"), "postgres_fdw");
  assertEquals(
    serverWrapper(
      `CREATE SERVER "x FOREIGN DATA WRAPPER evil" FOREIGN DATA WRAPPER "My ""fdw""" OPTIONS (host 'FOREIGN DATA WRAPPER no');`,
    ),
    'My "fdw"',
  );
  assertEquals(serverWrapper("ALTER SERVER remote OWNER TO postgres;"), undefined);
  assertEquals(
    serverWrapper("COMMENT ON SERVER remote IS 'CREATE SERVER a FOREIGN DATA WRAPPER b';"),
    undefined,
  );
});

Deno.test("planCatalog: --schema takes only the access methods its tables need, --data-only nothing", () => {
  assertEquals(
    actions(planCatalog("catalog.sql", CATALOG, MANIFEST, { ...REQ, schemas: ["a"] }, target(), SCOPE)),
    ["ACCESS METHOD heap2: create"],
  );
  assertEquals(
    planCatalog("catalog.sql", CATALOG, MANIFEST, { ...REQ, schemas: ["b"] }, target(), {
      ...SCOPE,
      ddl: new Set(["b"]),
    })
      .objects,
    [],
  );
  assertEquals(
    planCatalog("catalog.sql", CATALOG, MANIFEST, { ...REQ, dataOnly: true }, target(), SCOPE).objects,
    [],
  );
});

Deno.test("checkEntry: an entry the restore runs holds only its own kind of statement, and no meta-command", () => {
  const cast = (body: string) =>
    parseScript(entry("CAST (a.mood AS text)", "CAST", "-", body, "-")).blocks[0];
  checkEntry(cast("CREATE CAST (a.mood AS text) WITH INOUT;\n\nSET default_table_access_method = heap;"));
  for (
    const body of [
      "CREATE CAST (a.mood AS text) WITH INOUT;\nCREATE ROLE intruder SUPERUSER;",
      "CREATE CAST (a.mood AS text) WITH INOUT;\n\\! touch /tmp/x\n",
      "COMMENT ON CAST (a.mood AS text) IS 'x'; DROP TABLE a.t;",
    ]
  ) {
    assertThrows(
      () => checkEntry(cast(body)),
      (e: unknown) => e instanceof BackupError && /holds a statement/.test(e.message),
    );
  }
  // A string holding a statement stays inside its statement.
  checkEntry(
    parseScript(
      entry(
        "CAST (a.mood AS text)",
        "COMMENT",
        "-",
        "COMMENT ON CAST (a.mood AS text) IS 'x;\nDROP TABLE a.t;';",
      ),
    ).blocks[0],
  );
  // The whole plan refuses such a catalog, and a preamble that holds more than pg_dump writes there.
  const bad = parseScript(
    scriptText(CATALOG).replace("WITH INOUT;", "WITH INOUT;\nALTER ROLE postgres SUPERUSER;"),
  );
  assertThrows(() => planCatalog("catalog.sql", bad, MANIFEST, REQ, target(), SCOPE), BackupError);
  const pre = parseScript(scriptText(CATALOG).replace("SET statement_timeout = 0;", "CREATE ROLE x;"));
  assertThrows(() => planCatalog("catalog.sql", pre, MANIFEST, REQ, target(), SCOPE), BackupError);
});

Deno.test("replacedDefaults: the target's defaults in restored schemas and database-wide, with the source's or none", () => {
  const acl = (schema: string | null, type: string, grantee: string) => ({
    schema,
    type,
    grantee,
    priv: "SELECT",
    grantable: false,
  });
  const t = target({
    user: "supabase_admin",
    defaultAcl: [
      acl("public", "r", "anon"),
      acl("public", "r", "authenticated"),
      acl("auth", "r", "anon"),
      acl(null, "r", "anon"),
      acl("a", "f", "anon"),
    ],
  });
  const p = planCatalog("catalog.sql", CATALOG, MANIFEST, REQ, t, {
    ...SCOPE,
    ddl: new Set(["a", "public"]),
  });
  // catalog.sql has supabase_admin's database-wide default for tables; none in public or a
  assertEquals(p.defaults, [
    { schema: "public", type: "r", grantees: ["anon", "authenticated"], source: false },
    { schema: null, type: "r", grantees: ["anon"], source: true },
    { schema: "a", type: "f", grantees: ["anon"], source: false },
  ]);
  assert(
    formatCatalogPlan(p).includes(
      "    in schema public, on tables (to anon, authenticated): REMOVED (the source had none)",
    ),
  );
  // --schema: the database-wide ones stay the target's
  const s = planCatalog("catalog.sql", CATALOG, MANIFEST, { ...REQ, schemas: ["a"] }, t, SCOPE);
  assertEquals(s.defaults.map((d) => d.schema), ["a"]);
});
