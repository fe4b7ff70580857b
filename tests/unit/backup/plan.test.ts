import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import type { Detected } from "../../../lib/pg/detect.ts";
import {
  dumpCompression,
  entryKey,
  notCaptured,
  patternIdent,
  pgDumpArgs,
  pgDumpCatalogArgs,
  planBackup,
  planTotals,
  schemaPatterns,
  secretSetting,
} from "../../../lib/backup/plan.ts";
import { parseQualifiedName } from "../../../lib/pg/ident.ts";
import { assertGolden } from "../../support/golden.ts";

const NOW = new Date("2026-11-24T10:00:00Z");

function detected(): Detected {
  const schemas = ["auth", "billing", "extensions", "public", "storage", "vault", 'Sales "EU" é'];
  return {
    serverVersionNum: 170004,
    serverVersion: "17.4",
    database: "postgres",
    encoding: "UTF8",
    sizeBytes: 1000,
    currentUser: "postgres",
    databaseComment: null,
    settings: [],
    userMappings: [],
    globals: [],
    subscriptions: [],
    largeObjects: 0,
    schemas: schemas.map((name, i) => ({ oid: 100 + i, name, owner: "postgres", usable: name !== "vault" })),
    tables: [
      { oid: 1, schema: "auth", name: "users", kind: "r", readable: true, extension: false },
      { oid: 2, schema: "public", name: "profiles", kind: "r", readable: true, extension: false },
      { oid: 3, schema: "public", name: "Profiles", kind: "r", readable: true, extension: false },
      { oid: 4, schema: "billing", name: "secret_keys", kind: "r", readable: false, extension: false },
      { oid: 5, schema: "billing", name: "events", kind: "p", readable: true, extension: false },
      {
        oid: 6,
        schema: "billing",
        name: "events_2024",
        kind: "r",
        readable: true,
        extension: false,
        partitionOf: "billing.events",
      },
      { oid: 7, schema: "extensions", name: "ext_table", kind: "r", readable: true, extension: true },
      {
        oid: 8,
        schema: 'Sales "EU" é',
        name: 'Order Items "2024"',
        kind: "r",
        readable: true,
        extension: false,
      },
      { oid: 9, schema: "public", name: "audit", kind: "r", readable: true, extension: false },
    ],
    roles: ["postgres"],
    extensions: [
      { name: "uuid-ossp", schema: "extensions", version: "1.1" },
      { name: "pgcrypto", schema: "extensions", version: "1.3" },
      { name: "citext", schema: "billing", version: "1.6" },
      { name: "pg_trgm", schema: "vault", version: "1.6" },
    ],
    owners: new Map(),
    namedOwners: new Map(),
  };
}

Deno.test("full scope: every schema, unreadable tables skipped with a reason, extension tables left to pg_dump (golden)", async () => {
  const p = planBackup(detected(), { scope: "full", schemas: [], excludeTables: [] }, NOW);
  await assertGolden("plan_full.json", JSON.stringify(p, null, 2) + "\n");
  assertEquals(p.schemas.map((s) => s.name), [
    "auth",
    "billing",
    "extensions",
    "public",
    "storage",
    'Sales "EU" é',
  ]);
  assertEquals(p.skipped.map((s) => `${s.schema}.${s.table}`), ["billing.secret_keys"]);
  assertEquals(p.skippedSchemas.map((s) => s.schema), ["vault"]);
  assertEquals(p.schemas.find((s) => s.name === "billing")!.excludeTables, ["secret_keys"]);
  assertEquals(p.schemas.find((s) => s.name === "extensions")!.tables, []);
});

Deno.test("planTotals counts the planned schemas and tables", () => {
  const p = planBackup(detected(), { scope: "full", schemas: [], excludeTables: [] }, NOW);
  const tables = p.schemas.flatMap((s) => s.tables).length;
  assertEquals(planTotals(p), { schemas: p.schemas.length, tables });
  assertEquals(tables > 0 && p.schemas.length > 1, true);
});

Deno.test("user scope leaves out Supabase-managed schemas", () => {
  const p = planBackup(detected(), { scope: "user", schemas: [], excludeTables: [] }, NOW);
  assertEquals(p.schemas.map((s) => s.name), ["billing", "public", 'Sales "EU" é']);
});

Deno.test("every extension is in the plan, with its schema, also when its schema is not backed up", () => {
  for (
    const opts of [{ scope: "user" as const, schemas: [] }, { scope: "full" as const, schemas: ["public"] }]
  ) {
    const p = planBackup(detected(), { ...opts, excludeTables: [] }, NOW);
    assertEquals(p.extensions.map((e) => `${e.schema}.${e.name}@${e.version}`), [
      "extensions.uuid-ossp@1.1",
      "extensions.pgcrypto@1.3",
      "billing.citext@1.6",
      "vault.pg_trgm@1.6",
    ]);
  }
  // each extension is dumped with its own schema only; a schema without USAGE (vault) is not dumped
  const p = planBackup(detected(), { scope: "full", schemas: [], excludeTables: [] }, NOW);
  assertEquals(
    Object.fromEntries(p.schemas.map((s) => [s.name, s.extensions])),
    {
      auth: [],
      billing: ["citext"],
      extensions: ["uuid-ossp", "pgcrypto"],
      public: [],
      storage: [],
      'Sales "EU" é': [],
    },
  );
});

Deno.test("--schema and --exclude-table narrow the selection", () => {
  const p = planBackup(detected(), {
    scope: "full",
    schemas: ["public"],
    excludeTables: [{ schema: "public", table: "audit" }],
  }, NOW);
  assertEquals(p.schemas.map((s) => s.name), ["public"]);
  assertEquals(p.schemas[0].tables.map((t) => t.name), ["profiles", "Profiles"]);
  assertEquals(p.schemas[0].excludeTables, ["audit"]);
  assertEquals(p.skipped, []);
  // case-clashing names get distinct paths
  const files = p.schemas[0].tables.map((t) => t.schemaFile.toLowerCase());
  assertEquals(new Set(files).size, 2);
});

Deno.test("an unknown --schema is a usage error", () => {
  throws(
    () => planBackup(detected(), { scope: "full", schemas: ["nope"], excludeTables: [] }, NOW),
    /--schema 'nope' does not exist/,
  );
});

Deno.test("pg_dump arguments quote names exactly", () => {
  const p = planBackup(detected(), { scope: "full", schemas: [], excludeTables: [] }, NOW);
  const billing = p.schemas.find((s) => s.name === "billing")!;
  assertEquals(pgDumpArgs(billing, "/x/b.dump", 17, "0000-1"), [
    "--format=custom",
    "--compress=zstd:3",
    "--file=/x/b.dump",
    '--schema="billing"',
    '--extension="citext"',
    '--exclude-table="billing"."secret_keys"',
    "--snapshot=0000-1",
    "--no-password",
  ]);
  assertEquals(patternIdent('Sales "EU" é'), '"Sales ""EU"" é"');
  const ext = p.schemas.find((s) => s.name === "extensions")!;
  assertEquals(pgDumpArgs(ext, "/x/e.dump", 17).slice(3), [
    '--schema="extensions"',
    '--extension="uuid-ossp"',
    '--extension="pgcrypto"',
    "--no-password",
  ]);
  const pub = p.schemas.find((s) => s.name === "public")!;
  assertEquals(pgDumpArgs(pub, "/x/p.dump", 17).filter((a) => a.startsWith("--extension")), []);
  assertEquals(pgDumpArgs(billing, "/x/b.dump", 15)[1], "--compress=6");
  // A group: one pattern for its schemas, every extension and exclusion of each.
  assertEquals(pgDumpArgs([billing, ext], "/x/g.dump", 17).slice(3), [
    '--schema=("billing"|"extensions")',
    '--extension="citext"',
    '--extension="uuid-ossp"',
    '--extension="pgcrypto"',
    '--exclude-table="billing"."secret_keys"',
    "--no-password",
  ]);
  assertEquals(dumpCompression(16), "zstd:3");
});

Deno.test("schemaPatterns: one name quoted, several an alternation of at most 100 quoted names", () => {
  assertEquals(schemaPatterns(['a"b']), ['"a""b"']);
  assertEquals(schemaPatterns(["a", "B.c|d"]), ['("a"|"B.c|d")']);
  const many = schemaPatterns(Array.from({ length: 250 }, (_, i) => `s${i}`));
  assertEquals(many.length, 3);
  assertEquals(many[2], `(${Array.from({ length: 50 }, (_, i) => `"s${200 + i}"`).join("|")})`);
});

Deno.test("parseQualifiedName handles quotes and rejects a missing schema", () => {
  assertEquals(parseQualifiedName("public.users", "--table"), { schema: "public", table: "users" });
  assertEquals(parseQualifiedName('"my.schema"."Order ""x"""', "--table"), {
    schema: "my.schema",
    table: 'Order "x"',
  });
  throws(() => parseQualifiedName("users", "--table"), /needs a schema/);
  throws(() => parseQualifiedName('"open.users', "--table"), /unclosed quote/);
  throws(() => parseQualifiedName("a.b.c", "--table"), /SCHEMA.TABLE/);
});

Deno.test("catalog.sql leaves out what the schema dumps leave out", () => {
  const full = planBackup(detected(), { scope: "full", schemas: [], excludeTables: [] }, NOW);
  assertEquals(full.catalog, {
    file: "catalog.sql",
    excludeSchemas: ["vault"],
    excludeTables: [{ schema: "billing", table: "secret_keys" }],
  });
  const user = planBackup(detected(), { scope: "user", schemas: [], excludeTables: [] }, NOW);
  assertEquals(user.catalog.excludeSchemas, ["auth", "extensions", "storage", "vault"]);
  // --schema: the other schemas are excluded (not selected with --schema, which would leave out
  // every database-level object)
  const one = planBackup(detected(), {
    scope: "full",
    schemas: ["public"],
    excludeTables: [{ schema: "public", table: "audit" }],
  }, NOW);
  assertEquals(one.catalog.excludeSchemas, [
    "auth",
    "billing",
    "extensions",
    "storage",
    "vault",
    'Sales "EU" é',
  ]);
  assertEquals(one.catalog.excludeTables, [{ schema: "public", table: "audit" }]);
  assertEquals(pgDumpCatalogArgs(one.catalog, "0000-1", "k3y"), [
    "--schema-only",
    "--format=plain",
    "--no-subscriptions",
    '--exclude-schema="auth"',
    '--exclude-schema="billing"',
    '--exclude-schema="extensions"',
    '--exclude-schema="storage"',
    '--exclude-schema="vault"',
    '--exclude-schema="Sales ""EU"" é"',
    '--exclude-table="public"."audit"',
    "--snapshot=0000-1",
    "--restrict-key=k3y",
    "--no-password",
  ]);
  assertEquals(pgDumpCatalogArgs(full.catalog), [
    "--schema-only",
    "--format=plain",
    "--no-subscriptions",
    '--exclude-schema="vault"',
    '--exclude-table="billing"."secret_keys"',
    "--no-password",
  ]);
});

function withGlobals(): Detected {
  return {
    ...detected(),
    databaseComment: "the app",
    settings: [
      { name: "default_table_access_method", value: "heap2" },
      { name: "search_path", value: '"$user", public' },
      { name: "app.settings.jwt_secret", value: "s3cr3t" },
      { role: "authenticator", name: "statement_timeout", value: "8s" },
      { role: "anon", name: "app.api_key", value: "k" },
    ],
    userMappings: [
      { server: "remote", user: "postgres", options: ["user", "password"] },
      { server: "remote", user: "public", options: null },
    ],
    globals: [
      { kind: "ACCESS METHOD", name: "heap2", owner: "" },
      { kind: "EVENT TRIGGER", name: "audit ddl", owner: "supabase_admin" },
      { kind: "PUBLICATION", name: "pub", owner: "postgres" },
      { kind: "SERVER", name: "Remote\nOne", owner: "postgres" },
    ],
    subscriptions: ["sub1"],
    largeObjects: 2,
  };
}

Deno.test("settings, comment and user mappings go into the plan; values of secret-looking settings do not", () => {
  const p = planBackup(withGlobals(), { scope: "full", schemas: [], excludeTables: [] }, NOW);
  assertEquals(p.database, {
    settings: [
      { name: "default_table_access_method", value: "heap2" },
      { name: "search_path", value: '"$user", public' },
      { name: "app.settings.jwt_secret", value: null },
    ],
    roleSettings: [
      { role: "authenticator", name: "statement_timeout", value: "8s" },
      { role: "anon", name: "app.api_key", value: null },
    ],
    comment: "the app",
  });
  assertEquals(p.userMappings, [
    { server: "remote", user: "postgres", options: ["user", "password"] },
    { server: "remote", user: "public", options: null },
  ]);
  assertEquals(
    ["app.settings.jwt_secret", "pgrst.db_password", "x.api_token", "search_path", "password_encryption"]
      .map(secretSetting),
    [true, true, true, false, false],
  );
});

Deno.test("what cannot be captured is named, before and after the catalog is dumped", () => {
  const names = (list: { kind: string; name: string }[]) => list.map((n) => `${n.kind} ${n.name}`);
  const rest = [
    "USER MAPPING FOR public SERVER remote",
    "SUBSCRIPTION sub1",
    "LARGE OBJECT 2 large object(s)",
  ];
  // before dumping, what the catalog shows
  assertEquals(names(notCaptured(withGlobals())), rest);
  assertEquals(
    names(planBackup(withGlobals(), { scope: "full", schemas: [], excludeTables: [] }, NOW).notCaptured),
    rest,
  );
  // after: what catalog.sql's headers hold (plain or quoted tags, newlines as spaces) is captured
  const dumped = new Set([
    entryKey("ACCESS METHOD", "heap2"),
    entryKey("SERVER", '"Remote One"'),
    entryKey("EVENT TRIGGER", "audit ddl"),
  ]);
  const after = notCaptured(withGlobals(), dumped);
  assertEquals(names(after), ["PUBLICATION pub", ...rest]);
  assertEquals(
    after[0].reason,
    "pg_dump left it out of catalog.sql when connected as postgres; create it again after a restore",
  );
  dumped.delete(entryKey("EVENT TRIGGER", "audit ddl"));
  dumped.add(entryKey("PUBLICATION", "pub"));
  assertEquals(names(notCaptured(withGlobals(), dumped)), ["EVENT TRIGGER audit ddl", ...rest]);
});
