import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import type { Manifest, ManifestSchema, ManifestTable } from "../../../lib/store/manifest.ts";
import {
  type FilterContext,
  filterDefinitions,
  judgeStatement,
  skippedLine,
} from "../../../lib/restore/filter.ts";
import {
  guardError,
  planRestore,
  replicaError,
  type RestoreRequest,
  selectTables,
  tableKey,
  type TargetState,
  type TargetTable,
} from "../../../lib/restore/plan.ts";
import { formatRestorePlan, planJson } from "../../../lib/restore/view.ts";
import {
  fkTarget,
  parseScript,
  pickDependencies,
  scriptText,
  splitTableScript,
} from "../../../lib/restore/script.ts";
import { quoteIdent } from "../../../lib/pg/ident.ts";
import { assertGolden } from "../../support/golden.ts";

function table(
  schema: string,
  name: string,
  rows: number,
  extra: Partial<ManifestTable> = {},
): ManifestTable {
  return {
    name,
    rows,
    schemaFile: `${schema}/tables/${name}/schema.sql`,
    dataFiles: [`${schema}/tables/${name}/data.sql`],
    bytes: 100,
    kind: "r",
    ...extra,
  };
}

function schema(name: string, tables: ManifestTable[], managed = false): ManifestSchema {
  return { name, dump: `${name}/${name}_schema_20260101_000000.dump`, dumpBytes: 10, managed, tables };
}

const MANIFEST: Manifest = {
  format: 1,
  createdAt: "2026-01-01T00:00:00.000Z",
  tool: "supabase-backup test",
  source: { repo: "local", event: "test", sha: "0000000" },
  database: { name: "postgres", serverVersion: "17.4", sizeBytes: 1, host: "x" },
  pgDumpVersion: "pg_dump (PostgreSQL) 17.12",
  snapshot: { consistent: true },
  status: "partial",
  roles: "roles.sql",
  schemas: [
    schema("auth", [
      table("auth", "users", 3),
      table("auth", "schema_migrations", 40),
      table("auth", "extra", 2),
    ], true),
    schema("public", [
      table("public", "profiles", 3),
      table("public", "events", 0, { kind: "p", dataFiles: [] }),
      table("public", "events_2024", 5, { partitionOf: "public.events" }),
      table("public", "big", 9, {
        dataFiles: ["public/tables/big/data.001.sql", "public/tables/big/data.002.sql"],
      }),
    ]),
    {
      ...schema("billing", [table("billing", "plans", 2)]),
      dumpParts: ["billing/b.dump.001", "billing/b.dump.002"],
    },
  ],
  skipped: [{ schema: "billing", table: "secret_keys", reason: "permission denied" }],
  files: {},
  durationMs: 1,
};

const REQ: RestoreRequest = {
  schemas: [],
  tables: [],
  roles: false,
  dataOnly: false,
  schemaOnly: false,
  clean: false,
};

function target(
  tables: Record<string, TargetTable> = {},
  schemas: string[] = ["public"],
  superuser = false,
): TargetState {
  const map = new Map<string, TargetTable>();
  for (const [k, v] of Object.entries(tables)) {
    const [s, t] = k.split(".");
    map.set(tableKey(s, t), v);
  }
  return {
    serverMajor: 15,
    user: "postgres",
    superuser,
    roles: new Set(["postgres", "anon", "authenticated", "supabase_admin", "supabase_auth_admin"]),
    assumable: new Set(
      superuser ? ["postgres", "anon", "authenticated", "supabase_admin"] : ["postgres", "anon"],
    ),
    schemas: new Map(schemas.map((s) => [s, s === "public" ? "pg_database_owner" : "supabase_admin"])),
    tables: map,
  };
}

const SUPABASE_TARGET = target({
  "auth.users": { kind: "r", empty: true },
  "auth.schema_migrations": { kind: "r", empty: false },
}, ["public", "auth", "storage"]);

Deno.test("whole restore into an empty database: every schema from its dump, all tables created", () => {
  const plan = planRestore(MANIFEST, { ...REQ, roles: true }, target());
  assertEquals(plan.kind, "schemas");
  assertEquals(plan.schemas.map((s) => [s.name, s.mode, s.exists]), [
    ["auth", "ddl", false],
    ["public", "ddl", true],
    ["billing", "ddl", false],
  ]);
  assert(plan.schemas.flatMap((s) => s.tables).every((t) => t.action === "create"));
  assertEquals(plan.refused, []);
  // the dumps are restored; every table file is checked too (a damaged backup is refused whole)
  assertEquals(plan.files.filter((f) => !f.includes("/tables/")), [
    "roles.sql",
    "auth/auth_schema_20260101_000000.dump",
    "public/public_schema_20260101_000000.dump",
    "billing/b.dump.001",
    "billing/b.dump.002",
  ]);
  assertEquals(plan.files.length, 5 + 16);
  assert(plan.files.includes("public/tables/big/data.002.sql"));
  const schemaOnly = planRestore(MANIFEST, { ...REQ, schemaOnly: true }, target());
  assert(!schemaOnly.files.some((f) => f.endsWith("data.sql")));
  assertEquals(plan.notes, ["billing.secret_keys is not in the backup: permission denied"]);
});

Deno.test("Supabase target: managed schema that exists gets rows only; migration history is kept", async () => {
  const plan = planRestore(MANIFEST, REQ, SUPABASE_TARGET);
  const auth = plan.schemas.find((s) => s.name === "auth")!;
  assertEquals(auth.mode, "data");
  assertEquals(auth.tables.map((t) => [t.table.name, t.action]), [["users", "load"], [
    "schema_migrations",
    "keep",
  ], ["extra", "skip"]]);
  // auth.extra is absent from the target's managed schema (another Supabase version): left out, named.
  assertEquals(plan.tables, []);
  assert(
    plan.notes.some((n) =>
      /^auth\.extra .*is not restored: absent from the target's Supabase-managed schema/.test(n)
    ),
  );
  // --strict makes a left-out table with rows a refusal.
  const strict = planRestore(MANIFEST, { ...REQ, strict: true }, SUPABASE_TARGET);
  const extra = strict.schemas.find((s) => s.name === "auth")!.tables.find((t) => t.table.name === "extra")!;
  assertEquals(extra.action, "refuse");
  assert(extra.reason.includes("holds 2 rows (--strict)"), extra.reason);
  assert(plan.files.includes("auth/tables/users/data.sql"));
  assert(!plan.files.includes("auth/tables/schema_migrations/data.sql"));
  assertEquals(guardError(plan, "db"), undefined);
  await assertGolden(
    "restore/plan_supabase.txt",
    formatRestorePlan(plan, { from: "latest", target: "postgres@db:5432/postgres" }) + "\n",
  );
  // --json gives the same decisions as data
  await assertGolden("restore/plan_supabase.json", JSON.stringify(planJson(plan), null, 2) + "\n");
});

Deno.test("guard: a table with rows refuses, --clean recreates, --data-only loads into empty tables", () => {
  const t = target({
    "public.profiles": { kind: "r", empty: false },
    "public.big": { kind: "r", empty: true },
  });
  const plan = planRestore(MANIFEST, { ...REQ, schemas: ["public"] }, t);
  assertEquals(plan.refused.map((r) => r.table.name), ["profiles", "big"]);
  const err = guardError(plan, "postgres@h:5432/db");
  assert(err instanceof BackupError);
  assertEquals(err.exitCode, 1);
  assert(err.message.includes("public.profiles (already exists and holds rows)"), err.message);
  assert(err.hint?.includes("--clean"));

  const clean = planRestore(MANIFEST, { ...REQ, schemas: ["public"], clean: true }, t);
  assertEquals(clean.refused, []);
  assertEquals(clean.schemas[0].tables.map((x) => x.action), ["recreate", "create", "create", "recreate"]);

  const dataOnly = planRestore(MANIFEST, {
    ...REQ,
    tables: [{ schema: "public", table: "big" }],
    dataOnly: true,
  }, t);
  assertEquals(dataOnly.tables.map((x) => x.action), ["load"]);
  assertEquals(dataOnly.files, ["public/tables/big/data.001.sql", "public/tables/big/data.002.sql"]);

  const dataOnlyFull = planRestore(
    MANIFEST,
    { ...REQ, tables: [{ schema: "public", table: "profiles" }], dataOnly: true },
    t,
  );
  assertEquals(dataOnlyFull.refused.map((x) => x.reason), ["already holds rows"]);
  const absent = planRestore(MANIFEST, {
    ...REQ,
    tables: [{ schema: "billing", table: "plans" }],
    dataOnly: true,
  }, t);
  assert(guardError(absent, "db")!.hint!.includes("leave out --data-only"));
});

Deno.test("managed table with rows: refused, emptied and reloaded with --clean", () => {
  const t = target({ "auth.users": { kind: "r", empty: false } }, ["public", "auth"]);
  assertEquals(planRestore(MANIFEST, { ...REQ, schemas: ["auth"] }, t).refused.map((x) => x.table.name), [
    "users",
  ]);
  const clean = planRestore(MANIFEST, { ...REQ, schemas: ["auth"], clean: true }, t);
  assertEquals(clean.schemas[0].tables[0].action, "empty-load");
});

Deno.test("table mode: partitions follow their parent; files are the table's and its schema dump", () => {
  const plan = planRestore(MANIFEST, { ...REQ, tables: [{ schema: "public", table: "events" }] }, target());
  assertEquals(plan.kind, "tables");
  assertEquals(plan.tables.map((t) => t.table.name), ["events", "events_2024"]);
  assertEquals(plan.files, [
    "public/tables/events/schema.sql",
    "public/public_schema_20260101_000000.dump",
    "public/tables/events_2024/schema.sql",
    "public/tables/events_2024/data.sql",
  ]);
});

Deno.test("selection errors are usage errors naming the flag", () => {
  const usage = (req: Partial<RestoreRequest>, text: string) =>
    assertThrows(() => selectTables(MANIFEST, { ...REQ, ...req }), (e: unknown) => {
      assert(e instanceof BackupError);
      assertEquals(e.exitCode, 2);
      assert(e.message.includes(text), e.message);
      return true;
    });
  usage({ schemas: ["nope"] }, "--schema 'nope' is not in this backup");
  usage({ tables: [{ schema: "public", table: "nope" }] }, "--table 'public.nope' is not in this backup");
  usage({ tables: [{ schema: "billing", table: "secret_keys" }] }, "permission denied");
  usage({ dataOnly: true, schemaOnly: true }, "exclude each other");
});

const CTX: FilterContext = {
  target: {
    roles: new Set(["postgres", "anon", "supabase_admin"]),
    assumable: new Set(["postgres"]),
    schemas: new Map([["public", "supabase_admin"], ["app", "postgres"]]),
  },
};

Deno.test("judgeStatement: ownership, session authorization, grants to missing roles, default privileges", () => {
  assertEquals(judgeStatement("ALTER TABLE public.t OWNER TO postgres;", CTX), "keep");
  assertEquals(judgeStatement("ALTER TABLE public.t OWNER TO supabase_admin;", CTX), "owner");
  assertEquals(judgeStatement('ALTER FUNCTION app."f x"(a integer) OWNER TO "Some Role";', CTX), "owner");
  assertEquals(judgeStatement("SET SESSION AUTHORIZATION supabase_admin;", CTX), "owner");
  assertEquals(judgeStatement("GRANT SELECT ON TABLE public.t TO anon;", CTX), "keep");
  assertEquals(judgeStatement("GRANT SELECT ON TABLE public.t TO PUBLIC;", CTX), "keep");
  assertEquals(judgeStatement("GRANT ALL ON TABLE public.t TO ghost WITH GRANT OPTION;", CTX), "privilege");
  assertEquals(judgeStatement("REVOKE ALL ON TABLE public.t FROM ghost;", CTX), "privilege");
  assertEquals(
    judgeStatement(
      "ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA app GRANT ALL ON TABLES TO anon;",
      CTX,
    ),
    "privilege",
  );
  // A whole statement whose name holds a newline and a forged OWNER TO is judged as one.
  assertEquals(
    judgeStatement(
      "ALTER TABLE app.\"x OWNER TO n;\nCOPY(SELECT)TO PROGRAM'id';\n--\" OWNER TO postgres;",
      CTX,
    ),
    "keep",
  );
  assertEquals(
    judgeStatement('ALTER TABLE app."x OWNER TO postgres;\nSELECT 1;\n--" OWNER TO ghost;', CTX),
    "owner",
  );
});

const SCRIPT = `--
-- PostgreSQL database dump
--

\\restrict KEY

SET statement_timeout = 0;
SET transaction_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: public; Type: SCHEMA; Schema: -; Owner: pg_database_owner
--

CREATE SCHEMA public;


ALTER SCHEMA public OWNER TO pg_database_owner;

--
-- Name: SCHEMA public; Type: COMMENT; Schema: -; Owner: pg_database_owner
--

COMMENT ON SCHEMA public IS 'standard public schema';


--
-- Name: mood; Type: TYPE; Schema: public; Owner: supabase_admin
--

CREATE TYPE public.mood AS ENUM (
    'x'
);


ALTER TYPE public.mood OWNER TO supabase_admin;

--
-- Name: Order Items "2024"; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public."Order Items ""2024""" (
    id integer NOT NULL,
    m public.mood
);


ALTER TABLE public."Order Items ""2024""" OWNER TO postgres;

--
-- Name: Order Items "2024" o_fk; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public."Order Items ""2024"""
    ADD CONSTRAINT o_fk FOREIGN KEY (id) REFERENCES "Sales ""EU"" é".orders(id);


--
-- Name: TABLE "Order Items ""2024"""; Type: ACL; Schema: public; Owner: postgres
--

SET SESSION AUTHORIZATION supabase_admin;
GRANT SELECT ON TABLE public."Order Items ""2024""" TO anon;
RESET SESSION AUTHORIZATION;
GRANT SELECT ON TABLE public."Order Items ""2024""" TO ghost;


--
-- PostgreSQL database dump complete
--

\\unrestrict KEY
`;

Deno.test("parseScript: preamble, blocks with their headers, trailer; round trip", () => {
  const s = parseScript(SCRIPT);
  assertEquals(s.blocks.map((b) => [b.name, b.type, b.schema, b.owner]), [
    ["public", "SCHEMA", "-", "pg_database_owner"],
    ["SCHEMA public", "COMMENT", "-", "pg_database_owner"],
    ["mood", "TYPE", "public", "supabase_admin"],
    ['Order Items "2024"', "TABLE", "public", "postgres"],
    ['Order Items "2024" o_fk', "FK CONSTRAINT", "public", "postgres"],
    ['TABLE "Order Items ""2024"""', "ACL", "public", "postgres"],
  ]);
  assert(s.preamble.includes("\\restrict KEY"));
  assert(s.trailer.includes("\\unrestrict KEY"));
  assertEquals(scriptText(s), SCRIPT);
  assertEquals(fkTarget(s.blocks[4]), { schema: 'Sales "EU" é', table: "orders" });
});

Deno.test("filterDefinitions adapts a script to a non-superuser target (golden)", async () => {
  const r = filterDefinitions(SCRIPT, CTX);
  assertEquals(r.counts, { owners: 2, privileges: 2 });
  await assertGolden("restore/filtered_script.sql", r.text);
  assertEquals(
    skippedLine(r.counts, "postgres")?.startsWith("skipped 2 ownership statement(s) and 2 privilege"),
    true,
  );
  assertEquals(skippedLine({ owners: 0, privileges: 0 }, "postgres"), undefined);
});

Deno.test("splitTableScript: foreign keys go last, those to absent tables are dropped and named", () => {
  const kept = splitTableScript(SCRIPT, () => true);
  assert(kept.fks.includes("ADD CONSTRAINT o_fk"));
  assert(!kept.main.includes("ADD CONSTRAINT o_fk"));
  const dropped = splitTableScript(SCRIPT, (q) => q.schema !== 'Sales "EU" é');
  assertEquals(dropped.fks, "");
  assertEquals(dropped.droppedFks, [{
    name: 'public.Order Items "2024" o_fk',
    references: 'Sales "EU" é.orders',
  }]);
});

Deno.test("pickDependencies: referenced types and functions the target lacks, transitively, in order", () => {
  const pre = parseScript(`SET x = 1;

--
-- Name: status; Type: TYPE; Schema: Sales "EU" é; Owner: postgres
--

CREATE TYPE "Sales ""EU"" é".status AS ENUM ('a');

--
-- Name: pos; Type: DOMAIN; Schema: app; Owner: postgres
--

CREATE DOMAIN app.pos AS "Sales ""EU"" é".status;

--
-- Name: pos_two; Type: DOMAIN; Schema: app; Owner: postgres
--

CREATE DOMAIN app.pos_two AS integer;

--
-- Name: touch(); Type: FUNCTION; Schema: app; Owner: postgres
--

CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ begin return new; end $$;

--
-- Name: uid(); Type: FUNCTION; Schema: auth; Owner: supabase_auth_admin
--

CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS $$ select null::uuid $$;
`);
  const table = `CREATE TABLE app.t (p app.pos);
CREATE TRIGGER t BEFORE INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE POLICY p ON app.t USING ((auth.uid() IS NOT NULL));`;
  const deps = pickDependencies(table, [{ schema: "x", script: pre }], (d) => d.schema === "auth");
  assertEquals(deps.map((d) => `${d.type} ${d.schema}.${d.name}`), [
    'TYPE Sales "EU" é.status',
    "DOMAIN app.pos",
    "FUNCTION app.touch",
  ]);
});

Deno.test("quoteIdent follows PostgreSQL's rules", () => {
  assertEquals(quoteIdent("users"), "users");
  assertEquals(quoteIdent("Users"), '"Users"');
  assertEquals(quoteIdent("user"), '"user"');
  assertEquals(quoteIdent('a"b'), '"a""b"');
});

Deno.test("Supabase target: shared columns, left-out writes, the CLI's history merged, replica checked", () => {
  const t: TargetState = {
    ...SUPABASE_TARGET,
    canReplica: false,
    tables: new Map([
      ...SUPABASE_TARGET.tables,
      [tableKey("auth", "users"), {
        kind: "r",
        empty: true,
        columns: ["id", "email", "new_col"],
        insertable: true,
      }],
      [tableKey("auth", "extra"), { kind: "r", empty: true, columns: ["id"], insertable: false }],
    ]),
  };
  const cols = new Map([[tableKey("auth", "users"), ["id", "email", "old_col"]], [tableKey("auth", "extra"), [
    "id",
  ]]]);
  const plan = planRestore(MANIFEST, REQ, t, cols);
  const auth = plan.schemas.find((s) => s.name === "auth")!;
  const users = auth.tables.find((x) => x.table.name === "users")!;
  assertEquals(users.columns, { load: ["id", "email"], onlyBackup: ["old_col"], onlyTarget: ["new_col"] });
  assert(plan.notes.some((n) => n.startsWith("auth.users: column(s) old_col only in the backup")));
  assert(plan.notes.some((n) => n.startsWith("auth.users: column(s) new_col only in the target")));
  assertEquals(auth.tables.find((x) => x.table.name === "extra")!.action, "skip");
  const err = replicaError(plan, t);
  assert(err instanceof BackupError && err.exitCode === 2, String(err));
  assert(err.hint?.includes("GRANT SET ON PARAMETER session_replication_role TO postgres"), err.hint);
  assertEquals(replicaError(plan, { ...t, canReplica: true }), undefined);
});

Deno.test("plan text: names with line breaks and workflow commands stay inside their own line", () => {
  const evilSchema = "s\n    public.profiles: DROP, recreate + load";
  const evilTable = "t\r\n::error::forged\x1b[2J";
  const m: Manifest = {
    ...MANIFEST,
    schemas: [schema(evilSchema, [table(evilSchema, evilTable, 4)])],
    skipped: [{ schema: evilSchema, table: "x\n  note: nothing to see", reason: "permission\ndenied" }],
  };
  const text = formatRestorePlan(planRestore(m, REQ, target()), { from: "a\nb", target: "db" });
  const lines = text.split("\n");
  // the heading, the schema, its table and the note about the skipped table: four lines, no more
  assertEquals(lines.length, 4, text);
  assertEquals(lines[0], "restore a\\nb into db (definitions and data)");
  // names as SQL (and --table) takes them: a control character makes them U&"…"
  assertEquals(lines[1], '  schema U&"s\\000a    public.profiles: DROP, recreate + load" (created)');
  assertEquals(lines[2], '    U&"t\\000d\\000a::error::forged\\001b[2J": create + load (4 rows)');
  assert(lines[3].startsWith("  note: s\\n    public.profiles"), lines[3]);
  // deno-lint-ignore no-control-regex
  assert(!/[\x00-\x1f]/.test(text.replaceAll("\n", "")), text);
});

Deno.test("plan text: names quoted as --table takes them, and one row is '1 row'", () => {
  const m: Manifest = {
    ...MANIFEST,
    schemas: [schema("Sales EU", [table("Sales EU", "Order", 1), table("Sales EU", "items", 2)])],
  };
  const lines = formatRestorePlan(planRestore(m, REQ, target()), { from: "latest", target: "db" }).split(
    "\n",
  );
  assertEquals(lines.slice(1, 4), [
    '  schema "Sales EU" (created)',
    '    "Order": create + load (1 row)',
    "    items: create + load (2 rows)",
  ]);
});

Deno.test("--table of a Supabase-managed table the target has: its rows load, as in the whole restore", () => {
  const req = (tables: string[], extra: Partial<RestoreRequest> = {}): RestoreRequest => ({
    ...REQ,
    tables: tables.map((x) => ({ schema: x.split(".")[0], table: x.split(".")[1] })),
    ...extra,
  });
  const there = target({
    "auth.users": { kind: "r", empty: true, columns: ["id", "email", "is_anonymous"], insertable: true },
    "auth.schema_migrations": { kind: "r", empty: false, columns: ["version"], insertable: true },
  }, ["public", "auth"]);
  const cols = new Map([[tableKey("auth", "users"), ["id", "email", "old_col"]]]);
  const plan = planRestore(
    MANIFEST,
    req(["auth.users", "auth.schema_migrations", "auth.extra"]),
    there,
    cols,
  );
  assertEquals(plan.tables.map((t) => [t.table.name, t.action]), [
    ["users", "load"],
    ["schema_migrations", "keep"],
    ["extra", "skip"],
  ]);
  assertEquals(plan.tables[0].columns, {
    load: ["id", "email"],
    onlyBackup: ["old_col"],
    onlyTarget: ["is_anonymous"],
  });
  assertEquals(guardError(plan, "db"), undefined);
  const text = formatRestorePlan(plan, { from: "latest", target: "db" });
  assert(text.includes("    auth.users: load rows (3 rows; shared columns only)"), text);
  // with rows in the target: refused, with what to do (as the whole restore refuses it)
  const full = target({ "auth.users": { kind: "r", empty: false, columns: ["id"], insertable: true } }, [
    "public",
    "auth",
  ]);
  assertEquals(
    planRestore(MANIFEST, req(["auth.users"]), full).tables[0].reason,
    "Supabase-managed table that already holds rows",
  );
  assertEquals(
    planRestore(MANIFEST, req(["auth.users"], { clean: true }), full).tables[0].action,
    "empty-load",
  );
  // a target without the managed schema (plain PostgreSQL): created, as before
  assertEquals(planRestore(MANIFEST, req(["auth.users"]), target()).tables[0].action, "create");
});

Deno.test("a --table not in the backup: the hint lists the schema's tables as --table takes them", () => {
  const m: Manifest = { ...MANIFEST, schemas: [schema("Sales EU", [table("Sales EU", "a\nb", 1)])] };
  try {
    planRestore(m, { ...REQ, tables: [{ schema: "Sales EU", table: "nope" }] }, target());
    assert(false, "no error");
  } catch (e) {
    assert(e instanceof BackupError && e.exitCode === 2, String(e));
    assertEquals(e.message, `--table '"Sales EU".nope' is not in this backup`);
    assertEquals(e.hint, `tables of "Sales EU": U&"a\\000ab"`);
  }
});

Deno.test("the guard's refusal and the plan's notes name tables as --table takes them", () => {
  const m: Manifest = { ...MANIFEST, schemas: [schema("Sales EU", [table("Sales EU", "a\nb", 1)])] };
  const req = { ...REQ, tables: [{ schema: "Sales EU", table: "a\nb" }] };
  const plan = planRestore(m, req, target({ "Sales EU.a\nb": { kind: "r", empty: false } }));
  const e = guardError(plan, "db")!;
  assert(
    e.message.endsWith(`in the way: "Sales EU".U&"a\\000ab" (already exists and holds rows)`),
    e.message,
  );
});
