import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { BATCH_LIMIT, batchable, Batcher } from "../../../lib/restore/session.ts";
import { lexScript } from "../../../lib/pg/lexer.ts";

/** A script through the lexer and a Batcher, as Session.run passes one input on. */
function batched(text: string): string {
  const b = new Batcher();
  let out = "";
  for (const p of lexScript(text)) out += b.push(p.kind, p.text);
  return out + b.end();
}

Deno.test("batchable: definitions, grants, comments and SELECTs; not SET, COPY, DML or parser settings", () => {
  for (
    const s of ["CREATE TABLE a (x int);", "ALTER TABLE ONLY a\n    ADD CONSTRAINT a_pkey PRIMARY KEY (x);"]
  ) {
    assertEquals(batchable(s), true, s);
  }
  for (
    const s of [
      "GRANT ALL ON a TO b;",
      "COMMENT ON TABLE a IS 'x';",
      "SELECT pg_catalog.setval('s', 1, true);",
    ]
  ) {
    assertEquals(batchable(s), true, s);
  }
  for (
    const s of [
      "SET search_path = '';",
      "COPY a (x) FROM stdin;\n",
      "INSERT INTO a VALUES (1);",
      "COMMIT;",
      "SELECT pg_catalog.set_config('standard_conforming_strings', 'off', false);",
      "ALTER ROLE r SET backslash_quote = on;",
      "CREATE TABLE a (x int)",
    ]
  ) assertEquals(batchable(s), false, s);
});

Deno.test("Batcher: ';' becomes '\\;' only between two batchable statements; comments stay in place", () => {
  const script = "SET x = 1;\nCREATE TABLE a (x int);\n\n--\n-- Name: b\n--\n\nCREATE TABLE b (y int);\n" +
    "COPY a (x) FROM stdin;\n1\n\\.\nALTER TABLE a OWNER TO r;\n";
  assertEquals(
    batched(script),
    "SET x = 1;\nCREATE TABLE a (x int)\\;\n\n--\n-- Name: b\n--\n\nCREATE TABLE b (y int);\n" +
      "COPY a (x) FROM stdin;\n1\n\\.\nALTER TABLE a OWNER TO r;\n",
  );
  // The text psql sends is the same: only where the queries end changes.
  assertEquals(batched(script).replaceAll("\\;", ";"), script);
});

Deno.test("Batcher: an input ends with its last statement sent; a statement cut by the lexer is joined as text", () => {
  assertEquals(batched("CREATE TABLE a ();\nCREATE TABLE b ();"), "CREATE TABLE a ()\\;\nCREATE TABLE b ();");
  // A BEGIN ATOMIC body the lexer cuts at its inner ';': no statement is added, psql finds its end.
  const atomic = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n";
  assertEquals(batched(atomic).replaceAll("\\;", ";"), atomic);
});

Deno.test("Batcher: at most BATCH_LIMIT statements in one query", () => {
  const script = Array.from({ length: BATCH_LIMIT * 2 + 1 }, (_, i) => `CREATE TABLE t${i} ();\n`).join("");
  const out = batched(script);
  const sent = out.split("\n").filter((l) => l.endsWith(");")).length;
  assertEquals(sent, 3);
  assertEquals(out.replaceAll("\\;", ";"), script);
});
