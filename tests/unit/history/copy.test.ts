/** Reading data.sql (pure parts, and the line stream with its size and checksum check). */
import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { BackupError } from "../../../lib/base/errors.ts";
import {
  dataEvents,
  decodeField,
  parseCopyHeader,
  parseIdentList,
  streamLines,
} from "../../../lib/history/copy.ts";

const streamOf = (text: string, chunk = 3) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      const b = new TextEncoder().encode(text);
      for (let i = 0; i < b.length; i += chunk) c.enqueue(b.slice(i, i + chunk));
      c.close();
    },
  });

Deno.test("parseCopyHeader and parseIdentList read pg_dump's quoting", () => {
  assertEquals(parseCopyHeader("COPY public.orders (id, note) FROM stdin;"), {
    table: "public.orders",
    columns: ["id", "note"],
  });
  assertEquals(
    parseCopyHeader('COPY "Sales ""EU"" é"."Order Items ""2024""" (id, "Qty, ""x""", "a b") FROM stdin;'),
    { table: 'Sales "EU" é.Order Items "2024"', columns: ["id", 'Qty, "x"', "a b"] },
  );
  assertEquals(parseCopyHeader("COPY public.empty  FROM stdin;"), { table: "public.empty", columns: [] });
  assertEquals(parseCopyHeader("COPY public.x (a FROM stdin;"), undefined);
  assertEquals(parseCopyHeader("SELECT 1;"), undefined);
  assertEquals(parseIdentList(' a , "B,c" ,d'), ["a", "B,c", "d"]);
});

Deno.test("decodeField resolves COPY escapes and NULL", () => {
  assertEquals(decodeField("\\N"), null);
  assertEquals(decodeField("plain"), "plain");
  assertEquals(decodeField("a\\tb\\nc\\\\d\\101\\x42\\r"), "a\tb\nc\\dAB\r");
  assertEquals(decodeField("\\\\N"), "\\N");
});

Deno.test("dataEvents: one COPY block (names with newlines joined), rows, setval after; crafted lines stay rows", async () => {
  const text = [
    "SET x = 1;",
    "\\restrict k",
    'COPY public."we',
    'ird" (id, "co',
    'l") FROM stdin;',
    "1\tCOPY public.t (a) FROM stdin;",
    "2\t\\\\.",
    "\\.",
    "SELECT pg_catalog.setval('public.s', 2, true);",
    "COPY public.other (a) FROM stdin;",
    "\\unrestrict k",
  ].join("\n") + "\n";
  const events = [];
  for await (const e of dataEvents(streamLines(streamOf(text), "t"))) events.push(e);
  assertEquals(events, [
    { kind: "header", header: { table: "public.we\nird", columns: ["id", "co\nl"] } },
    { kind: "row", line: "1\tCOPY public.t (a) FROM stdin;" },
    { kind: "row", line: "2\t\\\\." },
    { kind: "after", line: "SELECT pg_catalog.setval('public.s', 2, true);" },
  ]);
});

Deno.test("streamLines refuses a file that does not match its manifest entry", async () => {
  const text = "a\nbb\nccc";
  const sha256 = createHash("sha256").update(text).digest("hex");
  const lines: string[] = [];
  for await (const l of streamLines(streamOf(text), "f", { bytes: 8, sha256 })) lines.push(l);
  assertEquals(lines, ["a", "bb", "ccc"]);
  const drain = async (expect: { bytes: number; sha256: string }) => {
    for await (const _ of streamLines(streamOf(text), "f", expect)) { /* read all */ }
  };
  const damaged = (re: RegExp) => (e: unknown) => e instanceof BackupError && re.test(e.message);
  await rejects(drain({ bytes: 5, sha256 }), damaged(/backup file f is damaged: longer than the 5 bytes/));
  await rejects(drain({ bytes: 9, sha256 }), damaged(/8 bytes, the manifest says 9/));
  await rejects(drain({ bytes: 8, sha256: "0".repeat(64) }), damaged(/SHA-256 differs/));
});
