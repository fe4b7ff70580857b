/** SQL identifiers (pure): quoting, and the U&"…" form for names with non-printing characters. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { throws } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import { parseQualifiedName, quoteIdent, sqlIdent, sqlQualified } from "../../../lib/pg/ident.ts";

Deno.test("sqlIdent: plain and quoted names as quoteIdent writes them", () => {
  assertEquals(sqlIdent("orders"), "orders");
  assertEquals(sqlIdent("Order Items"), quoteIdent("Order Items"));
  assertEquals(sqlIdent('Order "x"'), '"Order ""x"""');
  assertEquals(sqlIdent("user"), '"user"');
  assertEquals(sqlIdent("é;x"), '"é;x"');
});

Deno.test("sqlIdent: control and non-printing characters as U& escapes, on one line", () => {
  assertEquals(sqlIdent("a\nb\\"), 'U&"a\\000ab\\\\"');
  assertEquals(sqlIdent("a\rb\tc"), 'U&"a\\000db\\0009c"');
  assertEquals(sqlIdent("x\u202ey"), 'U&"x\\202ey"'); // right-to-left override
  assertEquals(sqlIdent("x\u2066y\u2069"), 'U&"x\\2066y\\2069"'); // isolate
  assertEquals(sqlIdent("x\u0085\u009by"), 'U&"x\\0085\\009by"'); // C1 controls (NEL, CSI)
  assertEquals(sqlIdent("\ufeffbom\u2028"), 'U&"\\feffbom\\2028"');
  assertEquals(sqlIdent('q"\x1b[31m'), 'U&"q""\\001b[31m"');
  assertEquals(sqlQualified("Sales\nEU", "t"), 'U&"Sales\\000aEU".t');
});

Deno.test('parseQualifiedName reads back what sqlQualified writes, U&"…" included (a hint\'s --table works)', () => {
  for (
    const [schema, table] of [
      ["public", "orders"],
      ['Sales "EU"', "Par\nent"],
      ["a\\b", "x\u202ey"],
      ["s", "tab\there\u0085"],
      ["odd.name", 'q"\x1b[31m'],
    ]
  ) {
    assertEquals(parseQualifiedName(sqlQualified(schema, table), "--table"), { schema, table });
  }
  assertEquals(parseQualifiedName('u&"a\\+01F600b".t', "--table"), { schema: "a\u{1F600}b", table: "t" });
  const usage = (e: unknown) => e instanceof BackupError && e.exitCode === 2;
  throws(() => parseQualifiedName('U&"a\\zz".t', "--table"), usage);
  throws(() => parseQualifiedName('U&"a\\+FFFFFF".t', "--table"), usage);
  throws(() => parseQualifiedName('U&"abc.t', "--table"), usage);
});
