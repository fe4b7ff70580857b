import { deepStrictEqual as assertEquals, notStrictEqual as notEqual } from "node:assert/strict";
import {
  compactTimestamp,
  decodeSegment,
  dumpPartPath,
  dumpPath,
  encodeSchemas,
  encodeSegment,
  encodeSiblings,
  tableDataPath,
  tableSchemaPath,
} from "../../../lib/store/layout.ts";

const HOSTILE = [
  "users",
  'Order Items "2024"',
  "a/b",
  ".hidden",
  "..",
  "trail.",
  "trail ",
  "tab\there",
  "new\nline",
  "per%cent",
  'Sales "EU" é',
  "con",
  "COM1.txt",
  "back\\slash",
  "q?*<>|:",
  "",
  "日本語",
];

Deno.test("encodeSegment round-trips every hostile name and yields a safe segment", () => {
  for (const name of HOSTILE) {
    const seg = encodeSegment(name);
    assertEquals(decodeSegment(seg), name, `round trip of ${JSON.stringify(name)}`);
    // deno-lint-ignore no-control-regex
    assertEquals(/[\/\\\x00-\x1f<>:"|?*]/.test(seg), false, `unsafe char in ${seg}`);
    assertEquals(seg.startsWith("."), false);
    assertEquals(/[ .]$/.test(seg), false);
    notEqual(seg, "");
  }
});

Deno.test("encodeSegment examples", () => {
  assertEquals(encodeSegment("users"), "users");
  assertEquals(encodeSegment("a/b"), "a%2Fb");
  assertEquals(encodeSegment(".hidden"), "%2Ehidden");
  assertEquals(encodeSegment('Order Items "2024"'), "Order Items %222024%22");
  assertEquals(encodeSegment("con"), "%63on");
});

Deno.test("encodeSiblings separates names that differ only by case, and round-trips", () => {
  const names = ["Users", "users", "USERS", "other"];
  const m = encodeSiblings(names);
  const segs = [...m.values()];
  assertEquals(new Set(segs.map((s) => s.toLowerCase())).size, names.length);
  for (const n of names) assertEquals(decodeSegment(m.get(n)!), n);
  assertEquals(m.get("users"), "users");
  assertEquals(m.get("other"), "other");
});

Deno.test("schema names never clash with manifest.json or roles.sql", () => {
  const m = encodeSchemas(["manifest.json", "roles.sql", "public"]);
  assertEquals(m.get("public"), "public");
  notEqual(m.get("manifest.json")!.toLowerCase(), "manifest.json");
  notEqual(m.get("roles.sql")!.toLowerCase(), "roles.sql");
  assertEquals(decodeSegment(m.get("roles.sql")!), "roles.sql");
});

Deno.test("file paths of one backup", () => {
  const at = new Date("2026-03-04T05:06:07.890Z");
  assertEquals(compactTimestamp(at), "20260304_050607");
  assertEquals(dumpPath("public", at), "public/public_schema_20260304_050607.dump");
  assertEquals(tableSchemaPath("public", "users"), "public/tables/users/schema.sql");
  assertEquals(tableDataPath("public", "users"), "public/tables/users/data.sql");
  assertEquals(tableDataPath("public", "users", 2), "public/tables/users/data.002.sql");
  assertEquals(dumpPartPath("public/x.dump", 1), "public/x.dump.001");
});
