import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import { freshRestrictKey, guardStream, guardText } from "../../../lib/restore/guard.ts";

const OPTS = { what: "loading t", dropTransactionTimeout: true, key: "K0" };

Deno.test("guardText restricts psql with its own key, drops the input's restrict lines and old-server settings", () => {
  const text =
    "\\restrict abc\nSET transaction_timeout = 0;\nCOPY t (a) FROM stdin;\nSET transaction_timeout = 0;\n" +
    "\\restrict K\n\\.\nSELECT 1;\n\\unrestrict abc\n";
  assertEquals(
    guardText(text, OPTS),
    "\\restrict K0\nBEGIN;\n\nCOPY t (a) FROM stdin;\nSET transaction_timeout = 0;\n\\restrict K\n\\.\nSELECT 1;\n\nCOMMIT;\n",
  );
  ok(/^[0-9a-f]{32}$/.test(freshRestrictKey()));
  ok(freshRestrictKey() !== freshRestrictKey());
});

Deno.test("guardText refuses any meta-command outside COPY data before anything runs", () => {
  for (
    const bad of [
      "SELECT 1;\n\\! touch /tmp/x\n",
      "\\unrestrict abc\n\\! id\n",
      "SELECT 1 \\g /tmp/x\n;",
      "COPY t FROM stdin;\n1\n\\.\n\\o /tmp/x\n",
      "\\copy t from program 'id'\n",
    ]
  ) {
    throws(() => guardText(bad, OPTS), (e: unknown) => {
      ok(e instanceof BackupError, String(e));
      ok(/meta-command outside COPY data/.test(e.message), e.message);
      ok(!e.message.includes("\n"), "one line");
      return true;
    }, bad);
  }
  // Inside quotes, dollar quotes and COPY data a backslash is data.
  const fine = "SELECT '\\! no', \"\\!\", $$\\! no$$;\nCOPY t FROM stdin;\n\\! data\n\\.\n";
  ok(guardText(fine, OPTS).includes("\\! data"));
});

Deno.test("guardStream writes COMMIT only after the whole input passed", async () => {
  const input = (s: string) => new Blob([s]).stream();
  const ok1 = await new Response(guardStream(input("SELECT 1;\n"), OPTS)).text();
  assertEquals(ok1, "\\restrict K0\nBEGIN;\nSELECT 1;\n\nCOMMIT;\n");
  const reader = guardStream(input("SELECT 1;\n\\! id\nSELECT 2;\n"), OPTS).getReader();
  let seen = "";
  let failed: unknown;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      seen += new TextDecoder().decode(r.value);
    }
  } catch (e) {
    failed = e;
  }
  ok(failed instanceof BackupError);
  ok(!seen.includes("COMMIT") && !seen.includes("\\! id"), seen);
});
