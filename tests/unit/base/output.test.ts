/** What may be printed: control characters escaped, no workflow command at a line start, secrets masked. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { escapeControl, safeLine, safeText } from "../../../lib/base/output.ts";
import { clearSecrets, registerSecret } from "../../../lib/base/redact.ts";

Deno.test("escapeControl shows every control character escaped, and nothing else changes", () => {
  assertEquals(escapeControl("nl\nline\r\ttab"), "nl\\nline\\r\\ttab");
  assertEquals(escapeControl("esc\x1b[2J del\x7f c1\x85 nul\0"), "esc\\x1b[2J del\\x7f c1\\x85 nul\\x00");
  assertEquals(
    escapeControl("ls\u2028ps\u2029 rlo\u202e lri\u2066 bom\ufeff"),
    "ls\\u{2028}ps\\u{2029} rlo\\u{202e} lri\\u{2066} bom\\u{feff}",
  );
  assertEquals(escapeControl("a\\nb É 日本 \\restrict"), "a\\nb É 日本 \\restrict");
});

Deno.test("safeLine: one line, no workflow command, secrets masked", () => {
  clearSecrets();
  registerSecret("hunter2");
  assertEquals(safeLine("dumped schema nl\n::error::forged"), "dumped schema nl\\n::error::forged");
  assertEquals(safeLine("::add-mask::x"), "\\x3a:add-mask::x");
  assertEquals(safeLine("  ::error::x"), "  \\x3a:error::x");
  assertEquals(safeLine("\u00a0##[error]x"), "\u00a0\\x23#[error]x");
  assertEquals(safeLine("\t::error::x"), "\\t::error::x");
  assertEquals(safeLine("pw hunter2 here"), "pw **** here");
  assertEquals(safeLine("a :: b ##[c]"), "a :: b ##[c]");
  clearSecrets();
});

Deno.test("safeText keeps a formatter's line breaks and makes each line safe", () => {
  assertEquals(
    safeText("Backup summary\n  ::error::x\r\n##[warning]y\n  ok\x1b[31m"),
    "Backup summary\n  \\x3a:error::x\\r\n\\x23#[warning]y\n  ok\\x1b[31m",
  );
  assertEquals(
    safeText(JSON.stringify({ name: "nl\n::error::x" }, null, 2)),
    '{\n  "name": "nl\\n::error::x"\n}',
  );
});
