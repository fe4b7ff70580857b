import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { copyStatement, cutRows, keptFields, parseCopyHeader } from "../../../lib/pg/copy.ts";

Deno.test("parseCopyHeader reads the table and quoted columns, and refuses other shapes", () => {
  assertEquals(parseCopyHeader('COPY auth.users (id, "Full, ""Name""", email) FROM stdin;'), {
    table: "auth.users",
    columns: ["id", 'Full, "Name"', "email"],
  });
  assertEquals(parseCopyHeader('COPY "my.schema"."t (x)" (a) FROM stdin;\n'), {
    table: '"my.schema"."t (x)"',
    columns: ["a"],
  });
  assertEquals(parseCopyHeader("COPY t FROM stdin;"), { table: "t", columns: [] });
  assertEquals(parseCopyHeader("COPY t (a) TO stdout;"), undefined);
  assertEquals(parseCopyHeader("COPY (SELECT 1) TO PROGRAM 'id' ; FROM stdin;"), undefined);
});

Deno.test("copyStatement and cutRows load only the shared columns", () => {
  const h = parseCopyHeader("COPY storage.objects (id, bucket_id, level, name) FROM stdin;")!;
  assertEquals(
    copyStatement(h, ["name", "id", "bucket_id"]),
    "COPY storage.objects (id, bucket_id, name) FROM stdin;",
  );
  assertEquals(copyStatement(h, ["id"], "pg_temp.sb_merge"), "COPY pg_temp.sb_merge (id) FROM stdin;");
  const kept = keptFields(h, ["id", "bucket_id", "name"]);
  assertEquals(cutRows("1\tb\t2\ta\\tb\n2\tb\t\\N\tx\n\\.\n", kept), "1\tb\ta\\tb\n2\tb\tx\n\\.\n");
  assertEquals(cutRows("1\tb\t2\tz\n", [true, true, true, true]), "1\tb\t2\tz\n");
});
