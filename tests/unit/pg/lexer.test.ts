import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { lexScript, type Piece, piecesText, ScriptLexer } from "../../../lib/pg/lexer.ts";

const kinds = (ps: Piece[]) => ps.filter((p) => p.kind !== "space").map((p) => p.kind);
const statements = (ps: Piece[]) => ps.filter((p) => p.kind === "statement").map((p) => p.text.trim());

/** Pieces of `text` fed in chunks of `size`, with adjacent data pieces merged (they may be cut anywhere). */
function chunked(text: string, size: number): Piece[] {
  const lx = new ScriptLexer();
  const out: Piece[] = [];
  for (let i = 0; i < text.length; i += size) out.push(...lx.push(text.slice(i, i + size)));
  out.push(...lx.end());
  return merge(out);
}

function merge(ps: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of ps) {
    const last = out[out.length - 1];
    if (last && last.kind === "data" && p.kind === "data") last.text += p.text;
    else out.push({ ...p });
  }
  return out;
}

const SCRIPT = [
  "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc123\n\nSET statement_timeout = 0;\n",
  "SET standard_conforming_strings = on;\n",
  "--\n-- Name: x OWNER TO n; Type: TABLE; Schema: app; Owner: postgres\n--\n\n",
  "CREATE TABLE app.\"x OWNER TO n;\nCOPY(SELECT)TO PROGRAM'id>/tmp/P';\n--\" (\n    id integer\n);\n\n",
  "ALTER TABLE app.\"x OWNER TO n;\nCOPY(SELECT)TO PROGRAM'id>/tmp/P';\n--\" OWNER TO postgres;\n\n",
  "CREATE FUNCTION public.f() RETURNS text\n    LANGUAGE sql\n    AS $_$select 'a;b'\n--\n-- Name: s; Type: SCHEMA; Schema: -; Owner: x\n--\n$_$;\n",
  "ALTER ROLE postgres SET search_path TO '\nCREATE ROLE intruder SUPERUSER;\n';\n",
  "SELECT E'it\\'s; \\\\';\n",
  "/* a ; /* nested ; */ still */ SELECT 1;\n",
  'COPY app."t\nFROM stdin;" (a, "b;c") FROM stdin;\n',
  "1\tx;y -- z\n\\.x\t\\N\n\\.\n",
  "SELECT pg_catalog.setval('s', 1, true);\n",
  "\\unrestrict abc123\n",
].join("");

Deno.test("lexScript keeps hostile names, settings and bodies inside their statements", () => {
  const ps = lexScript(SCRIPT);
  assertEquals(piecesText(ps), SCRIPT);
  const st = statements(ps);
  assertEquals(st.length, 10);
  ok(st[2].startsWith('CREATE TABLE app."x OWNER TO n;') && st[2].endsWith(");"));
  ok(st[3].startsWith("ALTER TABLE") && st[3].endsWith("OWNER TO postgres;"));
  ok(st[4].startsWith("CREATE FUNCTION") && st[4].endsWith("$_$;"));
  ok(st[5].startsWith("ALTER ROLE postgres SET search_path") && st[5].includes("CREATE ROLE intruder"));
  assertEquals(st[6], "SELECT E'it\\'s; \\\\';");
  assertEquals(st[7], "/* a ; /* nested ; */ still */ SELECT 1;");
  ok(st[8].startsWith("COPY app."));
  assertEquals(
    ps.filter((p) => p.kind === "data").map((p) => p.text).join(""),
    "1\tx;y -- z\n\\.x\t\\N\n\\.\n",
  );
  assertEquals(ps.filter((p) => p.kind === "meta").map((p) => p.text), [
    "\\restrict abc123\n",
    "\\unrestrict abc123\n",
  ]);
  assertEquals(ps.filter((p) => p.meta).length, 0);
});

Deno.test("ScriptLexer gives the same pieces whatever the chunk size", () => {
  const whole = merge(lexScript(SCRIPT));
  for (const size of [1, 2, 3, 5, 7, 64, 1000]) assertEquals(chunked(SCRIPT, size), whole, `chunk ${size}`);
});

Deno.test("a backslash outside quotes inside a statement is marked as a meta-command", () => {
  const ps = lexScript("SELECT 1 \\! id\n;\nSELECT '\\! not';\nSELECT \"\\\" ;\n");
  assertEquals(ps.filter((p) => p.kind === "statement").map((p) => p.meta ?? false), [true, false, false]);
  assertEquals(kinds(lexScript("\\! id\nSELECT 1;")), ["meta", "statement"]);
});

Deno.test("an unterminated statement at the end is marked; dollar quotes need an equal tag", () => {
  const ps = lexScript("SELECT $a$ x $b$ ; $a$;\nSELECT 'open");
  assertEquals(statements(ps)[0], "SELECT $a$ x $b$ ; $a$;");
  assertEquals(ps[ps.length - 1].unterminated, true);
  assertEquals(statements(lexScript("SELECT a$b$c; SELECT 2;")), ["SELECT a$b$c;", "SELECT 2;"]);
});

Deno.test("COPY data far longer than a chunk is passed on as it arrives; a `\\.` cut by a chunk boundary still ends it", () => {
  const value = "ab".repeat(10 << 20); // a 20 MiB value on one line
  const head = "COPY public.t (id, v) FROM stdin;\n";
  const script = `${head}1\t${value}\n\\.\r\nSELECT 1;\n`;
  for (const size of [65536, 1 << 20]) {
    const lx = new ScriptLexer();
    const out: Piece[] = [];
    let fed = 0;
    let lag = 0;
    for (let i = 0; i < script.length; i += size) {
      const chunk = script.slice(i, i + size);
      out.push(...lx.push(chunk));
      fed += chunk.length;
      lag = Math.max(lag, fed - out.reduce((n, p) => n + p.text.length, 0));
    }
    out.push(...lx.end());
    ok(lag <= head.length + 3, `held ${lag} characters with chunks of ${size}`);
    const ps = merge(out);
    assertEquals(piecesText(ps), script);
    assertEquals(kinds(ps), ["statement", "data", "statement"]);
    assertEquals(ps[1].unterminated, undefined);
    assertEquals(statements(ps)[1], "SELECT 1;");
  }
  // The end line cut after `\`, after `\.` and after `\.\r`: still the end.
  const small = `${head}1\tx\n\\.\r\nSELECT 2;\n`;
  const at = small.indexOf("\\.");
  for (const cut of [at + 1, at + 2, at + 3]) {
    const lx = new ScriptLexer();
    const ps = merge([...lx.push(small.slice(0, cut)), ...lx.push(small.slice(cut)), ...lx.end()]);
    assertEquals(kinds(ps), ["statement", "data", "statement"], `cut at ${cut}`);
    assertEquals(statements(ps)[1], "SELECT 2;");
  }
  // Data that ends without its `\.` line stays unterminated, also when its last line came in pieces.
  const lx = new ScriptLexer();
  const cut = [...lx.push(`${head}1\t${"x".repeat(100)}`), ...lx.push("y".repeat(100)), ...lx.end()];
  assertEquals(cut[cut.length - 1].kind, "data");
  assertEquals(cut[cut.length - 1].unterminated, true);
});
