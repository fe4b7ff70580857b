import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { parseScript, type ScriptBlock } from "../../../lib/restore/script.ts";
import {
  functionSearchPath,
  ruleWrites,
  runsDynamicSql,
  triggerFunction,
  writesOutside,
  writeTargets,
} from "../../../lib/restore/writes.ts";

function block(name: string, type: string, schema: string, body: string): ScriptBlock {
  return parseScript(
    `--\n-- Name: ${name}; Type: ${type}; Schema: ${schema}; Owner: postgres\n--\n\n${body}\n\n`,
  )
    .blocks[0];
}

Deno.test("writeTargets: INSERT, UPDATE, DELETE, MERGE and TRUNCATE targets; strings and comments do not count", () => {
  assertEquals(
    writeTargets(
      `INSERT INTO a.log (x) VALUES ('DELETE FROM z.q'); UPDATE ONLY "My S"."T ""1""" SET x = 1;
       -- insert into z.comment
       /* update z.block */ DELETE FROM t; MERGE INTO b.m USING a.x ON true WHEN MATCHED THEN DO NOTHING;
       TRUNCATE TABLE b.gone; SELECT 1 FOR UPDATE OF q; INSERT INTO a.c VALUES (E'it\\'s insert into z.e')`,
    ),
    [
      { schema: "a", table: "log" },
      { schema: "My S", table: 'T "1"' },
      { table: "t" },
      { schema: "b", table: "m" },
      { schema: "b", table: "gone" },
      { table: "OF" },
      { schema: "a", table: "c" },
    ],
  );
});

const RULE = block(
  "src to_log",
  "RULE",
  "d",
  "CREATE RULE to_log AS\n    ON UPDATE TO d.src DO  INSERT INTO c.log (what)\n  VALUES ('update d.other'::text);",
);

Deno.test("ruleWrites: only the commands after DO", () => {
  assertEquals(ruleWrites(RULE), [{ schema: "c", table: "log" }]);
});

const FN = block(
  "note()",
  "FUNCTION",
  "d",
  "CREATE FUNCTION d.note() RETURNS trigger\n    LANGUAGE plpgsql\n    SET search_path TO 'c', 'public'\n    AS $$\nbegin\n  insert into log values ('x');\n  update d.kept set id = 1;\n  return new;\nend $$;",
);
const TRIGGER = block(
  "kept note",
  "TRIGGER",
  "d",
  "CREATE TRIGGER note AFTER INSERT ON d.kept FOR EACH ROW EXECUTE FUNCTION d.note();",
);

Deno.test("triggerFunction and functionSearchPath read the trigger's function and where its names resolve", () => {
  assertEquals(triggerFunction(TRIGGER), { schema: "d", name: "note" });
  assertEquals(functionSearchPath(FN), ["c", "public"]);
  assertEquals(
    functionSearchPath(
      block(
        "f()",
        "FUNCTION",
        "d",
        "CREATE FUNCTION d.f() RETURNS int\n    LANGUAGE sql\n    SET search_path TO ''\n    AS $$select 1$$;",
      ),
    ),
    [],
  );
  assertEquals(
    functionSearchPath(
      block(
        "f()",
        "FUNCTION",
        "d",
        "CREATE FUNCTION d.f() RETURNS int\n    LANGUAGE sql\n    AS $$select 1$$;",
      ),
    ),
    ["public"],
  );
});

Deno.test("writesOutside: tables of the backup that are not present; unknown names are not judged", () => {
  const backup = new Set(["c.log", "d.kept", "d.src", "public.log"]);
  const inBackup = (s: string, t: string) => backup.has(`${s}.${t}`);
  const fn = (s: string, n: string) => (s === "d" && n === "note" ? FN : undefined);
  const only = (names: string[]) => (s: string, t: string) => names.includes(`${s}.${t}`);
  assertEquals(writesOutside(RULE, fn, only(["d.src"]), inBackup), ["c.log"]);
  assertEquals(writesOutside(RULE, fn, only(["d.src", "c.log"]), inBackup), []);
  // unqualified `log` resolves in c first (the function's search_path), before public
  assertEquals(writesOutside(TRIGGER, fn, only(["d.kept"]), inBackup), ["c.log"]);
  assertEquals(writesOutside(TRIGGER, fn, only(["d.kept", "c.log"]), inBackup), []);
  // a function the backup does not hold, and other entry types: not judged
  assertEquals(writesOutside(TRIGGER, () => undefined, only([]), inBackup), []);
  assertEquals(
    writesOutside(block("t x", "INDEX", "d", "CREATE INDEX x ON d.src (id);"), fn, only([]), inBackup),
    [],
  );
  // a table the backup does not know (a view, dynamic SQL): not judged
  assertEquals(writesOutside(RULE, fn, only(["d.src"]), () => false), []);
});

Deno.test("runsDynamicSql: PL/pgSQL EXECUTE is dynamic SQL; EXECUTE FUNCTION, strings and comments are not", () => {
  const fn = (body: string) =>
    block(
      "f()",
      "FUNCTION",
      "d",
      `CREATE FUNCTION d.f() RETURNS trigger\n    LANGUAGE plpgsql\n    AS $$\nbegin\n${body}\nreturn new;\nend $$;`,
    );
  assertEquals(
    runsDynamicSql(fn("  execute format('insert into %I.log values (1)', tg_table_schema);")),
    true,
  );
  assertEquals(runsDynamicSql(fn("  EXECUTE 'delete from c.log' USING new.id;")), true);
  assertEquals(runsDynamicSql(fn("  insert into c.log values ('execute this');")), false);
  assertEquals(
    runsDynamicSql(fn("  -- execute nothing\n  create trigger t after insert on x execute function g();")),
    false,
  );
  assertEquals(runsDynamicSql(block("t", "TABLE", "d", "CREATE TABLE d.t (execute int);")), false);
});
