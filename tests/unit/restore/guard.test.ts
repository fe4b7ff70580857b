import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import { lexScript } from "../../../lib/pg/lexer.ts";
import { freshRestrictKey, guardPiece } from "../../../lib/restore/guard.ts";

const OPTS = { what: "loading t", dropTransactionTimeout: true };
const guarded = (text: string, opts = OPTS) => lexScript(text).map((p) => guardPiece(p, opts)).join("");

Deno.test("guardPiece drops the input's own restrict lines and, for old servers, transaction_timeout", () => {
  const text =
    "\\restrict abc\nSET transaction_timeout = 0;\nCOPY t (a) FROM stdin;\nSET transaction_timeout = 0;\n" +
    "\\restrict K\n\\.\nSELECT 1;\n\\unrestrict abc\n";
  assertEquals(
    guarded(text),
    "\nCOPY t (a) FROM stdin;\nSET transaction_timeout = 0;\n\\restrict K\n\\.\nSELECT 1;\n",
  );
  assertEquals(
    guarded("SET transaction_timeout = 0;\n", { ...OPTS, dropTransactionTimeout: false }),
    "SET transaction_timeout = 0;\n",
  );
  ok(/^[0-9a-f]{32}$/.test(freshRestrictKey()));
  ok(freshRestrictKey() !== freshRestrictKey());
});

Deno.test("guardPiece refuses any meta-command outside COPY data, naming it on one line", () => {
  for (
    const bad of [
      "SELECT 1;\n\\! touch /tmp/x\n",
      "\\unrestrict abc\n\\! id\n",
      "SELECT 1 \\g /tmp/x\n;",
      "COPY t FROM stdin;\n1\n\\.\n\\o /tmp/x\n",
      "\\copy t from program 'id'\n",
    ]
  ) {
    throws(() => guarded(bad), (e: unknown) => {
      ok(e instanceof BackupError, String(e));
      ok(/meta-command outside COPY data/.test(e.message), e.message);
      ok(!e.message.includes("\n"), "one line");
      return true;
    }, bad);
  }
  // Inside quotes, dollar quotes and COPY data a backslash is data.
  const fine = "SELECT '\\! no', \"\\!\", $$\\! no$$;\nCOPY t FROM stdin;\n\\! data\n\\.\n";
  assertEquals(guarded(fine), fine);
});

Deno.test("the lexer marks an input that ends inside a statement or inside COPY data", () => {
  const last = (t: string) => lexScript(t).filter((p) => p.kind !== "space").pop();
  assertEquals(last("SELECT 'open;\n")?.unterminated, true);
  assertEquals(last("COPY t FROM stdin;\n1\n")?.unterminated, true);
  assertEquals(last("COPY t FROM stdin;\n1\n\\.\n")?.unterminated, undefined);
  assertEquals(last("SELECT 1;\n")?.unterminated, undefined);
});
