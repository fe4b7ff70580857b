import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { parseToc } from "../../../lib/pg/toc.ts";
import {
  matchSeparator,
  type SplitEntry,
  type SplitOutput,
  type SplitSpec,
  TocSplitError,
  TocStreamSplitter,
} from "../../../lib/backup/cutstream.ts";
import { HOLD_LIMIT } from "../../../lib/backup/split.ts";
import { dirname, fromFileUrl } from "../../support/paths.ts";

// Real pg_restore 17.12 output for part of the fixture's `public` schema dump (see
// tests/golden/tocsplit/): `stream.sql` is `pg_restore -v --restrict-key=streamkey -L <all>`,
// `frame.sql` the same with an empty list, and each `<file>.sql` is what
// `pg_restore --restrict-key=key<file> -L <that file's lines>` wrote on its own. `routes.txt` maps
// each TOC line to its file. `events` is partitioned; the stream sets the tablespace and access
// method once, before `profiles`, so the files of the other tables need their own SET lines.
const DIR = `${dirname(dirname(dirname(fromFileUrl(import.meta.url))))}/golden/tocsplit`;
const read = (name: string) => Deno.readTextFileSync(`${DIR}/${name}`);
const FILES = [
  "profiles.schema",
  "profiles.data",
  "events_2024_h1.schema",
  "events_2024_h1.data",
  "events.schema",
  "events.data",
];
const keyOf = (file: string) => `key${file.replace(/[._]/g, "")}`;

/** A spec whose files are a Map, so that a test can add one and list them. */
type TestSpec = SplitSpec & { files: Map<string, { restrictKey?: string }> };

function realSpec(): TestSpec {
  const entries = new Map<number, SplitEntry>();
  for (const row of read("routes.txt").split("\n").filter(Boolean)) {
    const [file, line] = row.split("\t");
    const [e] = parseToc(line);
    entries.set(e.dumpId, {
      file,
      desc: e.desc,
      catalogOid: e.catalogOid,
      objectOid: e.objectOid,
      ...(file.startsWith("events.") ? { noTableAm: true } : {}),
    });
  }
  return {
    entries,
    files: new Map(FILES.map((f) => [f, { restrictKey: keyOf(f) }])),
    frame: read("frame.sql"),
    streamKey: "streamkey",
  };
}

/** Runs the splitter over `stream` cut into `size`-byte chunks; returns each file's text. */
function split(spec: TestSpec, stream: string, size: number): Map<string, string> {
  const s = new TocStreamSplitter(spec);
  const bytes = new TextEncoder().encode(stream);
  const out: SplitOutput[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(...s.push(bytes.slice(i, i + size)));
  out.push(...s.finish());
  const parts = new Map<string, Uint8Array[]>();
  const ended = new Set<string>();
  for (const o of out) {
    ok(!ended.has(o.file), `${o.file} written after its end`);
    if ("end" in o) ended.add(o.file);
    else parts.set(o.file, [...(parts.get(o.file) ?? []), o.bytes]);
  }
  assertEquals([...ended].sort(), [...spec.files.keys()].sort());
  const dec = new TextDecoder();
  return new Map(
    [...parts].map((
      [f, list],
    ) => [f, list.map((b) => dec.decode(b, { stream: true })).join("") + dec.decode()]),
  );
}

Deno.test("tocsplit: each file is byte for byte what pg_restore writes for it alone, at any chunk size", () => {
  const stream = read("stream.sql");
  for (const size of [1, 2, 7, 64, 1000, stream.length]) {
    const got = split(realSpec(), stream, size);
    for (const f of FILES) assertEquals(got.get(f), read(`${f}.sql`), `${f} (chunks of ${size})`);
  }
});

Deno.test("tocsplit: SET lines follow each file's own state, as pg_restore does", () => {
  const got = split(realSpec(), read("stream.sql"), 4096);
  const sets = (f: string) => got.get(f)!.split("\n").filter((l) => l.startsWith("SET default_"));
  // The stream sets both once, before profiles; every table file sets what its entries need.
  assertEquals(sets("events_2024_h1.schema"), [
    "SET default_tablespace = '';",
    "SET default_table_access_method = heap;",
  ]);
  assertEquals(sets("events.schema"), ["SET default_tablespace = '';"]); // partitioned: no access method
  assertEquals(sets("events_2024_h1.data"), []);
});

Deno.test("tocsplit: header-like lines in COPY data are data", () => {
  const fake = "--\n-- TOC entry 3501 (class 0 OID 0)\n-- Name: TABLE events; Type: ACL; Schema: public; " +
    "Owner: postgres\n-- Data Pos: 0\n--\n\nSET default_tablespace = '';\n\n-- Completed on x\n\n";
  const rowsAt = (text: string) => text.indexOf("\n", text.indexOf("COPY public.events_2024_h1")) + 1;
  const stream = read("stream.sql");
  const forged = stream.slice(0, rowsAt(stream)) + fake + stream.slice(rowsAt(stream));
  const want = read("events_2024_h1.data.sql");
  const got = split(realSpec(), forged, 7);
  assertEquals(got.get("events_2024_h1.data"), want.slice(0, rowsAt(want)) + fake + want.slice(rowsAt(want)));
  assertEquals(got.get("events.schema"), read("events.schema.sql"));
});

Deno.test("tocsplit: a copied header in a definition stops the split; an unknown one is text", () => {
  const stream = read("stream.sql");
  const at = stream.indexOf("\n", stream.indexOf("CREATE POLICY")) + 1;
  const header = (id: string) =>
    `--\n-- TOC entry ${id} (class 0 OID 0)\n-- Name: TABLE events; Type: ACL; Schema: public; Owner: postgres\n--\n\n`;
  throws(
    () => split(realSpec(), stream.slice(0, at) + header("3501") + stream.slice(at), 64),
    (e) => e instanceof TocSplitError && /3501 appears twice/.test(e.message),
  );
  const unknown = split(realSpec(), stream.slice(0, at) + header("9999") + stream.slice(at), 64);
  ok(unknown.get("profiles.schema")!.includes("TOC entry 9999"));
});

Deno.test("tocsplit: missing entries, a cut stream and a foreign preamble fail", () => {
  const stream = read("stream.sql");
  const spec = realSpec();
  spec.entries.set(1, { file: "profiles.schema", desc: "TABLE", catalogOid: 1259, objectOid: 1 });
  throws(() => split(spec, stream, 4096), /TOC entry 1 \(TABLE\) is missing/);
  throws(() => split(realSpec(), stream.slice(0, stream.indexOf("\\.\n")), 4096), /ends inside COPY data/);
  throws(() => split(realSpec(), stream.slice(0, -20), 4096), /does not end with its trailer/);
  throws(() => split(realSpec(), stream.replace("SET lock_timeout = 0;\n", ""), 4096), /preamble differs/);
});

Deno.test("tocsplit: a file without entries is the frame with its own key", () => {
  const spec = realSpec();
  spec.files.set("empty", { restrictKey: "k2" });
  const got = split(spec, read("stream.sql"), 4096);
  assertEquals(
    got.get("empty"),
    read("frame.sql").replace("\\restrict streamkey", "\\restrict k2").replace(
      "\\unrestrict streamkey",
      "\\unrestrict k2",
    ),
  );
  const none = new TocStreamSplitter({ entries: new Map(), files: new Map([["a", {}]]), frame: "x\n" });
  assertEquals(none.finishEmpty().map((o) => "end" in o ? "end" : new TextDecoder().decode(o.bytes)), [
    "x\n",
    "end",
  ]);
});

Deno.test("tocsplit: matchSeparator", () => {
  const entries = new Map<number, SplitEntry>([[7, {
    file: "f",
    desc: "TABLE",
    catalogOid: 1259,
    objectOid: 42,
  }]]);
  const seen = new Set<number>();
  const full = [
    "SET default_tablespace = '';",
    "",
    'SET default_table_access_method = "my am";',
    "",
    "--",
    "-- TOC entry 7 (class 1259 OID 42)",
    "-- Dependencies: 3 4",
    "-- Name: t; Type: TABLE; Schema: s; Owner: o",
    "-- Data Pos: 0",
    "--",
    "",
  ];
  for (let n = 1; n < full.length; n++) {
    assertEquals(matchSeparator(full.slice(0, n), entries, seen), "prefix");
  }
  assertEquals(matchSeparator(full, entries, seen), {
    setTablespace: "SET default_tablespace = '';",
    setTableAm: 'SET default_table_access_method = "my am";',
    nameLine: "-- Name: t; Type: TABLE; Schema: s; Owner: o",
    dumpId: 7,
  });
  assertEquals(matchSeparator(full.slice(4), entries, seen), {
    nameLine: "-- Name: t; Type: TABLE; Schema: s; Owner: o",
    dumpId: 7,
  });
  const other = (i: number, line: string) => full.map((l, j) => j === i ? line : l);
  assertEquals(matchSeparator(other(5, "-- TOC entry 7 (class 1259 OID 43)"), entries, seen), "no");
  assertEquals(matchSeparator(other(7, "-- Name: t; Type: INDEX; Schema: s; Owner: o"), entries, seen), "no");
  assertEquals(matchSeparator(other(0, "SET default_tablespace = x';"), entries, seen), "no");
  assertEquals(matchSeparator([...full, ""], entries, seen), "no");
  throws(() => matchSeparator(full, entries, new Set([7])), TocSplitError);
});

Deno.test("tocsplit: a COPY statement spanning lines is never searched, whatever its names hold", () => {
  // A quoted column name holding a newline, a `\.` line and a copy of a later entry's header.
  const name = '"id\n\\.\n\n--\n-- TOC entry 246 (class 1259 OID 16680)\n-- Dependencies: 9\n' +
    '-- Name: events; Type: TABLE; Schema: public; Owner: postgres\n-- Data Pos: 0\n--\n\n""x"';
  const from = "COPY public.events_2024_h1 (id,";
  const to = `COPY public.events_2024_h1 (${name},`;
  const stream = read("stream.sql").replace(from, to);
  for (const size of [1, 5, 64, 4096]) {
    const got = split(realSpec(), stream, size);
    assertEquals(got.get("events_2024_h1.data"), read("events_2024_h1.data.sql").replace(from, to));
    assertEquals(got.get("events.schema"), read("events.schema.sql"));
  }
  throws(
    () => split(realSpec(), stream.replace(") FROM stdin;\n13\t", ");\n13\t"), 4096),
    (e) => e instanceof TocSplitError && /FROM stdin/.test(e.message),
  );
  throws(() => split(realSpec(), stream.slice(0, stream.indexOf('""x"')), 4096), /inside COPY data/);
});

Deno.test("tocsplit: values and lines far longer than the hold limit pass through in bounded memory", () => {
  const value = `999\t\\\\x${"ab".repeat(4 * HOLD_LIMIT)}\n`; // an 8 MiB row
  const longLines = `-- ${"y".repeat(3 * HOLD_LIMIT)}\n    ${"z".repeat(3 * HOLD_LIMIT)}\n`;
  const rowsAt = (text: string) => text.indexOf("\n", text.indexOf("COPY public.events_2024_h1")) + 1;
  const bodyAt = (text: string) => text.indexOf("CREATE TABLE public.events (\n") + 29;
  const insert = (text: string, at: number, what: string) => text.slice(0, at) + what + text.slice(at);
  let stream = read("stream.sql");
  stream = insert(stream, rowsAt(stream), value);
  stream = insert(stream, bodyAt(stream), longLines);
  const bytes = new TextEncoder().encode(stream);
  for (const size of [65536, HOLD_LIMIT + 7, 4093]) {
    const s = new TocStreamSplitter(realSpec());
    const out: SplitOutput[] = [];
    let most = 0;
    for (let i = 0; i < bytes.length; i += size) {
      out.push(...s.push(bytes.subarray(i, i + size)));
      most = Math.max(most, s.held);
    }
    out.push(...s.finish());
    ok(most <= HOLD_LIMIT + size, `held ${most} bytes with chunks of ${size}`);
    const text = (f: string) => {
      const dec = new TextDecoder();
      return out.filter((o) => o.file === f && "bytes" in o).map((o) =>
        dec.decode((o as { bytes: Uint8Array }).bytes, { stream: true })
      )
        .join("") + dec.decode();
    };
    const data = read("events_2024_h1.data.sql");
    assertEquals(text("events_2024_h1.data"), insert(data, rowsAt(data), value), `data, chunks of ${size}`);
    const schema = read("events.schema.sql");
    assertEquals(
      text("events.schema"),
      insert(schema, bodyAt(schema), longLines),
      `schema, chunks of ${size}`,
    );
    for (const f of FILES.filter((f) => f !== "events_2024_h1.data" && f !== "events.schema")) {
      assertEquals(text(f), read(`${f}.sql`), f);
    }
  }
});

Deno.test("tocsplit: a COPY statement or preamble line longer than the hold limit is not pg_restore's", () => {
  const stream = read("stream.sql");
  const copyAt = stream.indexOf("COPY public.events_2024_h1 (") + 5;
  const long = "x".repeat(3 * HOLD_LIMIT);
  throws(
    () => split(realSpec(), stream.slice(0, copyAt) + long + stream.slice(copyAt), 65536),
    /longer than \d+ bytes/,
  );
  throws(() => split(realSpec(), `${long}\n${stream}`, 65536), /longer than \d+ bytes/);
});
