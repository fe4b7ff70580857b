/** SQL identifiers (pure): quoting, and the U&"…" form for names with non-printing characters. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { quoteIdent, sqlIdent, sqlQualified } from "../../../lib/pg/ident.ts";

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
