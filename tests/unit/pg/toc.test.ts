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
