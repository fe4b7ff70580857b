import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { Manifest } from "../../../lib/store/manifest.ts";
import { type FilterContext, filterDefinitions } from "../../../lib/restore/filter.ts";
import {
  planExtensions,
  planRestore,
  type RestoreRequest,
  type TargetState,
} from "../../../lib/restore/plan.ts";
import { formatRestorePlan } from "../../../lib/restore/view.ts";

const EXTENSIONS = [
  { name: "uuid-ossp", schema: "extensions", version: "1.1" },
  { name: "citext", schema: "app", version: "1.6" },
  { name: "ltree", schema: "public", version: "1.3" },
];

function target(extensions: Record<string, { schema: string; owner: string }>): TargetState {
  return {
    serverMajor: 17,
    user: "postgres",
    superuser: false,
    roles: new Set(["postgres", "supabase_admin"]),
    assumable: new Set(["postgres"]),
    schemas: new Map([["public", "pg_database_owner"], ["extensions", "postgres"]]),
    tables: new Map(),
    extensions: new Map(Object.entries(extensions)),
  };
}

function manifest(withExtensions: boolean): Manifest {
  return {
    format: 1,
    createdAt: "2026-11-24T10:00:00.000Z",
    tool: "supabase-backup 0.1.0",
    source: { repo: "local", event: "test", sha: "0000000" },
    database: { name: "postgres", serverVersion: "17.4", sizeBytes: 1, host: "postgres@h:5432/postgres" },
    pgDumpVersion: "pg_dump (PostgreSQL) 17.4",
    snapshot: { consistent: true },
    status: "ok",
    roles: "roles.sql",
    schemas: [{ name: "app", dump: "app/app.dump", dumpBytes: 1, managed: false, tables: [] }],
    ...(withExtensions ? { extensions: EXTENSIONS } : {}),
    skipped: [],
    files: {},
    durationMs: 0,
  };
}

const REQ: RestoreRequest = {
  schemas: [],
  tables: [],
  roles: false,
  dataOnly: false,
  schemaOnly: false,
  clean: false,
};

Deno.test("planExtensions: missing ones are created, present ones left alone, wherever they are", () => {
  const t = target({
    "uuid-ossp": { schema: "extensions", owner: "supabase_admin" },
    ltree: { schema: "extensions", owner: "supabase_admin" },
  });
  assertEquals(planExtensions(EXTENSIONS, t).map((e) => [e.name, e.action, e.targetSchema]), [
    ["uuid-ossp", "present", "extensions"],
    ["citext", "create", undefined],
    ["ltree", "elsewhere", "extensions"],
  ]);
  // a target read without extensions (older callers): everything is created
  const { extensions: _e, ...bare } = t;
  assertEquals(planExtensions(EXTENSIONS, bare).map((e) => e.action), ["create", "create", "create"]);
});

Deno.test("planRestore lists the manifest's extensions in the plan; none for --data-only or old manifests", () => {
  const t = target({ "uuid-ossp": { schema: "extensions", owner: "supabase_admin" } });
  const plan = planRestore(manifest(true), REQ, t);
  assertEquals(plan.extensions.map((e) => `${e.name}:${e.action}`), [
    "uuid-ossp:present",
    "citext:create",
    "ltree:create",
  ]);
  const text = formatRestorePlan(plan, { from: "latest", target: "postgres@h/db" });
  assert(text.includes("  extensions to create: citext (in app), ltree (in public)"), text);
  assert(text.includes("  extensions already in the target (left as they are): uuid-ossp"), text);
  assertEquals(planRestore(manifest(true), { ...REQ, dataOnly: true }, t).extensions, []);
  assertEquals(planRestore(manifest(false), REQ, t).extensions, []);
  const elsewhere = planRestore(
    manifest(true),
    REQ,
    target({ citext: { schema: "public", owner: "postgres" } }),
  );
  assert(
    elsewhere.notes.some((n) => n.startsWith("extension citext is in schema public in the target, in app")),
    elsewhere.notes.join("\n"),
  );
});

const SCRIPT = `SET statement_timeout = 0;

--
-- Name: app; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA app;


ALTER SCHEMA app OWNER TO postgres;

--
-- Name: citext; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA app;


--
-- Name: EXTENSION citext; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION citext IS 'my comment';


--
-- Name: uuid-ossp; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA app;


--
-- Name: EXTENSION "uuid-ossp"; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION "uuid-ossp" IS 'generate universally unique identifiers (UUIDs)';


--
-- Name: people; Type: TABLE; Schema: app; Owner: postgres
--

CREATE TABLE app.people (
    email app.citext
);
`;

function ctx(extensions: Record<string, { schema: string; owner: string }>): FilterContext {
  const t = target(extensions);
  return { target: t };
}

Deno.test("filterDefinitions: an extension the target has loses its CREATE, and its COMMENT unless ours", () => {
  const { text, counts } = filterDefinitions(
    SCRIPT,
    ctx({
      citext: { schema: "app", owner: "postgres" },
      "uuid-ossp": { schema: "extensions", owner: "supabase_admin" },
    }),
  );
  assert(!text.includes("CREATE EXTENSION"), text);
  assert(text.includes("COMMENT ON EXTENSION citext IS 'my comment';"), text);
  assert(!text.includes('COMMENT ON EXTENSION "uuid-ossp"'), text);
  assert(text.includes("CREATE TABLE app.people"), text);
  assertEquals(counts, { owners: 0, privileges: 1 });
  // a target without them keeps both (the restore creates extensions first, so this is a fallback)
  const kept = filterDefinitions(SCRIPT, ctx({})).text;
  assert(kept.includes("CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA app;"), kept);
  assert(kept.includes('CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA app;'), kept);
});

Deno.test("filterDefinitions: --clean scripts never drop an extension or a schema", () => {
  const clean =
    "DROP TABLE IF EXISTS app.people;\nDROP EXTENSION IF EXISTS citext;\nDROP SCHEMA IF EXISTS app;\n" +
    SCRIPT;
  const { text } = filterDefinitions(clean, ctx({}));
  assert(text.startsWith("DROP TABLE IF EXISTS app.people CASCADE;\n"), text);
  assert(!/DROP (EXTENSION|SCHEMA)/.test(text), text);
});

Deno.test("planRestore: an extension of a schema left out with --exclude-schema is not created, and said so", () => {
  const m = manifest(true);
  m.schemas.push({ name: "extensions", dump: "extensions/e.dump", dumpBytes: 1, managed: false, tables: [] });
  const plan = planRestore(m, { ...REQ, excludeSchemas: ["extensions"] }, target({}));
  assertEquals(plan.extensions.map((e) => e.name), ["citext", "ltree"]);
  assert(
    plan.notes.includes(
      "extension uuid-ossp is not created: its schema extensions is left out (--exclude-schema)",
    ),
    plan.notes.join("\n"),
  );
});
