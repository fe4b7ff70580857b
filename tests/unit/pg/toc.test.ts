import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { assignToTables, parseToc, tagOf } from "../../../lib/pg/toc.ts";
import { assertGolden } from "../../support/golden.ts";

// A real `pg_restore -l` of a schema dump (pg_dump 17.12), with a name that needs quoting.
const TOC = `;
; Archive created at 2026-11-24 09:43:01 UTC
;
6; 2615 16385 SCHEMA - app postgres
845; 1247 16387 TYPE app mood postgres
222; 1255 16416 FUNCTION app trg() postgres
218; 1259 16405 TABLE app Weird Name "x" postgres
219; 1259 16418 TABLE app parted postgres
220; 1259 16421 TABLE app parted_1 postgres
217; 1259 16393 TABLE app users postgres
3391; 0 0 COMMENT app TABLE users postgres
3392; 0 0 COMMENT app COLUMN users.email postgres
3393; 0 0 ACL app TABLE users postgres
215; 1259 16391 SEQUENCE app users_id_seq postgres
216; 1259 16392 SEQUENCE app users_n_seq postgres
3394; 0 0 SEQUENCE OWNED BY app users_n_seq postgres
3397; 0 0 ACL app SEQUENCE users_n_seq postgres
221; 1259 16426 VIEW app v postgres
3219; 0 0 TABLE ATTACH app parted_1 postgres
3221; 2604 16397 DEFAULT app users n postgres
3382; 0 16405 TABLE DATA app Weird Name "x" postgres
3383; 0 16421 TABLE DATA app parted_1 postgres
3381; 0 16393 TABLE DATA app users postgres
3395; 0 0 SEQUENCE SET app users_id_seq postgres
3396; 0 0 SEQUENCE SET app users_n_seq postgres
3228; 2606 16409 CONSTRAINT app Weird Name "x" Weird Name "x"_pkey postgres
3223; 2606 16403 CONSTRAINT app users users_email_key postgres
3226; 2606 16401 CONSTRAINT app users users_pkey postgres
3229; 1259 16424 INDEX app parted_k_idx postgres
3230; 1259 16425 INDEX app parted_1_k_idx postgres
3224; 1259 16404 INDEX app users_lower_idx postgres
3231; 0 0 INDEX ATTACH app parted_1_k_idx postgres
3233; 2620 16417 TRIGGER app users t1 postgres
3232; 2606 16410 FK CONSTRAINT app Weird Name "x" Weird Name "x"_uid_fkey postgres
3378; 3256 16415 POLICY app users p1 postgres
3377; 0 16393 ROW SECURITY app users postgres
`;

const catalog = {
  tables: new Map([[16405, 'Weird Name "x"'], [16418, "parted"], [16421, "parted_1"], [16393, "users"]]),
  owners: new Map([
    [16391, 16393],
    [16392, 16393],
    [16397, 16393],
    [16409, 16405],
    [16403, 16393],
    [16401, 16393],
    [16424, 16418],
    [16425, 16421],
    [16404, 16393],
    [16417, 16393],
    [16410, 16405],
    [16415, 16393],
  ]),
  namedOwners: new Map([
    ["users_id_seq", 16393],
    ["users_n_seq", 16393],
    ["parted_k_idx", 16418],
    ["parted_1_k_idx", 16421],
    ["users_lower_idx", 16393],
  ]),
  roles: new Set(["postgres", "supabase_admin"]),
};

Deno.test("parseToc reads ids, descriptions with spaces, and drops comments", () => {
  const e = parseToc(TOC);
  assertEquals(e.length, 33);
  const data = e.find((x) => x.dumpId === 3382)!;
  assertEquals([data.catalogOid, data.objectOid, data.desc], [0, 16405, "TABLE DATA"]);
  assertEquals(tagOf(data, "app", catalog.roles), 'Weird Name "x"');
  assertEquals(e.find((x) => x.dumpId === 3394)!.desc, "SEQUENCE OWNED BY");
});

Deno.test("assignToTables gives each table its definition and data entries (golden)", async () => {
  const assigned = assignToTables(parseToc(TOC), "app", catalog);
  const view = [...assigned.entries()].map(([oid, t]) =>
    `${catalog.tables.get(oid)}\n  schema: ${t.schemaLines.map((l) => l.split(";")[0]).join(" ")}\n  data: ${
      t.dataLines.map((l) => l.split(";")[0]).join(" ")
    }`
  ).join("\n");
  await assertGolden("toc_assign.txt", view + "\n");
  const users = assigned.get(16393)!;
  // the view, the type and the function belong to no table
  for (const id of ["221;", "845;", "222;"]) {
    assertEquals([...assigned.values()].some((t) => t.schemaLines.some((l) => l.startsWith(id))), false);
  }
  assertEquals(users.dataLines.map((l) => l.split(";")[0]), ["3381", "3395", "3396"]);
});

Deno.test("assignToTables finds comments, privileges and labels of tables whose names pg_dump quotes", () => {
  // As pg_dump 17 writes them (fmtId): names with capitals, non-ASCII letters, quotes, or keywords.
  const toc = parseToc(`;
218; 1259 16405 TABLE app Weird Name "x" postgres
230; 1259 16500 TABLE app café postgres
231; 1259 16501 TABLE app order postgres
232; 1259 16502 SEQUENCE app Café_id_seq postgres
3400; 0 0 COMMENT app TABLE "Weird Name ""x""" postgres
3401; 0 0 COMMENT app COLUMN "Weird Name ""x""".id postgres
3402; 0 0 ACL app TABLE "Weird Name ""x""" postgres
3403; 0 0 COMMENT app TABLE "café" postgres
3404; 0 0 COMMENT app COLUMN "café"."naïve" postgres
3405; 0 0 ACL app COLUMN "café"."naïve" postgres
3406; 0 0 SECURITY LABEL app TABLE "order" postgres
3407; 0 0 ACL app TABLE "order" postgres
3408; 0 0 ACL app SEQUENCE "Café_id_seq" postgres
3409; 0 0 COMMENT app TABLE "cafés" postgres
`);
  const assigned = assignToTables(toc, "app", {
    tables: new Map([[16405, 'Weird Name "x"'], [16500, "café"], [16501, "order"]]),
    owners: new Map([[16502, 16500]]),
    namedOwners: new Map([["Café_id_seq", 16500]]),
    roles: new Set(["postgres"]),
  });
  const ids = (oid: number) => assigned.get(oid)!.schemaLines.map((l) => l.split(";")[0]);
  assertEquals(ids(16405), ["218", "3400", "3401", "3402"]);
  // 3409 is of another table (one the catalog does not hold), not of "café"
  assertEquals(ids(16500), ["230", "232", "3403", "3404", "3405", "3408"]);
  assertEquals(ids(16501), ["231", "3406", "3407"]);
});

Deno.test("assignToTables reads names pg_restore -l lists with line breaks as spaces, and never guesses", () => {
  const toc = parseToc(`;
240; 1259 16600 TABLE app evil x postgres
241; 1259 16601 TABLE app a b postgres
242; 1259 16602 TABLE app a b postgres
3410; 0 0 COMMENT app TABLE "evil x" postgres
3411; 0 0 ACL app COLUMN "evil x"."n o" postgres
3412; 0 0 COMMENT app TABLE "a b" postgres
`);
  const assigned = assignToTables(toc, "app", {
    tables: new Map([[16600, "evil\nx"], [16601, "a\nb"], [16602, "a b"]]),
    owners: new Map(),
    namedOwners: new Map(),
    roles: new Set(["postgres"]),
  });
  const ids = (oid: number) => assigned.get(oid)!.schemaLines.map((l) => l.split(";")[0]);
  assertEquals(ids(16600), ["240", "3410", "3411"]);
  // "a\nb" and "a b" are listed alike: the comment stays only in the schema dump
  assertEquals([ids(16601), ids(16602)], [["241"], ["242"]]);
});

Deno.test("assignToTables: a schema and an owner whose names hold line breaks, listed with spaces", () => {
  const toc = parseToc(`;
250; 1259 16700 TABLE my schema t my owner
3420; 0 0 COMMENT my schema TABLE t my owner
3421; 0 0 ACL my schema TABLE t my owner
`);
  const assigned = assignToTables(toc, "my\nschema", {
    tables: new Map([[16700, "t"]]),
    owners: new Map(),
    namedOwners: new Map(),
    roles: new Set(["my\nowner"]),
  });
  assertEquals(assigned.get(16700)!.schemaLines.map((l) => l.split(";")[0]), ["250", "3420", "3421"]);
});
