import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { cutUserMappings, UserMappingCutter } from "../../../lib/backup/catalog.ts";
import { entryKey } from "../../../lib/backup/plan.ts";

/** An entry header as pg_dump writes it: newlines in names become spaces. */
const header = (name: string, type: string, owner = "postgres", schema = "-") =>
  `--\n-- Name: ${name.replace(/[\r\n]/g, " ")}; Type: ${type}; Schema: ${schema}; Owner: ${owner}\n--\n\n`;

const PREAMBLE = "--\n-- PostgreSQL database dump\n--\n\n\\restrict k3y\n\nSET statement_timeout = 0;\n\n";
const TRAILER = "--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict k3y\n\n";

const SERVER = header("remote", "SERVER") +
  "CREATE SERVER remote FOREIGN DATA WRAPPER postgres_fdw OPTIONS (\n    host 'db'\n);\n\n\n" +
  "ALTER SERVER remote OWNER TO postgres;\n\n";
const TABLE = header("t", "TABLE", "postgres", "public") +
  "CREATE TABLE public.t (\n    id integer\n);\n\n\n";

/** A user mapping entry as pg_dump writes it, its password option holding `password`. */
function mapping(user: string, server: string, password: string, owner = "postgres"): string {
  return header(`USER MAPPING ${user} SERVER ${server}`, "USER MAPPING", owner) +
    `CREATE USER MAPPING FOR ${user} SERVER ${server} OPTIONS (\n    password '${
      password.replaceAll("'", "''")
    }',\n    "user" 'bob'\n);\n\n\n`;
}

Deno.test("user mapping entries are cut whole; every other entry and the framing stay byte for byte", () => {
  const script = PREAMBLE + SERVER + mapping("postgres", "remote", "hunter2") +
    mapping("public", "remote", "pw2") +
    TABLE + TRAILER;
  const c = cutUserMappings(script);
  assertEquals(c.text, PREAMBLE + SERVER + TABLE + TRAILER);
  assertEquals(c.cut, 2);
  assertEquals(c.entries, new Set([entryKey("SERVER", "remote"), entryKey("TABLE", "t")]));
  // the last entry before the end of the dump: the trailer stays
  const last = cutUserMappings(PREAMBLE + SERVER + mapping("postgres", "remote", "hunter2") + TRAILER);
  assertEquals(last.text, PREAMBLE + SERVER + TRAILER);
});

Deno.test("a hostile option value or server name that holds a forged header stays inside its statement, and is cut", () => {
  // A cut by lines would stop at the forged TABLE header and keep the rest of the statement.
  const forged = "x',\n--\n-- Name: t2; Type: TABLE; Schema: public; Owner: postgres\n--\n\n" +
    "CREATE TABLE public.t2 (id int);\n    password 'the-real-secret";
  const hostileServer =
    '"r\n--\n-- Name: s; Type: SCHEMA; Schema: -; Owner: postgres\n--\n\nCREATE SCHEMA s;\n"';
  const script = PREAMBLE + SERVER + mapping("postgres", "remote", forged) +
    mapping("bob", hostileServer, "second-secret") + TABLE + TRAILER;
  const c = cutUserMappings(script);
  assertEquals(c.text, PREAMBLE + SERVER + TABLE + TRAILER);
  ok(!/secret|t2|CREATE SCHEMA/.test(c.text), c.text);
  assertEquals(c.cut, 2);
});

Deno.test("a header made ambiguous by a hostile owner name is cut rather than kept", () => {
  // Read greedily, this header says Type: SERVER; it is a user mapping.
  const owner = "evil; Type: SERVER; Schema: -; Owner: x";
  const script = PREAMBLE + mapping("postgres", "remote", "hunter2", owner) + TABLE + TRAILER;
  const c = cutUserMappings(script);
  assertEquals(c.text, PREAMBLE + TABLE + TRAILER);
  assertEquals(c.cut, 1);
});

Deno.test("a forged header inside a function body does not start an entry", () => {
  const fn = header("f()", "FUNCTION", "postgres", "public") +
    "CREATE FUNCTION public.f() RETURNS text\n    LANGUAGE sql\n    AS $$select '\n--\n" +
    "-- Name: USER MAPPING a SERVER b; Type: USER MAPPING; Schema: -; Owner: postgres\n--\n\nx'$$;\n\n\n";
  const script = PREAMBLE + fn + TABLE + TRAILER;
  const c = cutUserMappings(script);
  assertEquals(c.text, script);
  assertEquals(c.cut, 0);
  assertEquals(c.entries, new Set([entryKey("FUNCTION", "f()"), entryKey("TABLE", "t")]));
});

Deno.test("a user mapping statement outside a user mapping entry fails the backup", () => {
  const stray = header("t", "TABLE", "postgres", "public") +
    "CREATE USER MAPPING FOR postgres SERVER remote OPTIONS (password 'hunter2');\n\n";
  throws(() => cutUserMappings(PREAMBLE + stray + TRAILER), /catalog.sql would hold a user mapping/);
  throws(
    () =>
      cutUserMappings(
        PREAMBLE + TABLE + "alter user\n mapping for postgres server remote options (set password 'x');\n",
      ),
    /catalog.sql would hold a user mapping/,
  );
});

Deno.test("UserMappingCutter: the script fed in chunks of any size gives the text of the whole", () => {
  const fn = header("f()", "FUNCTION", "postgres", "public") +
    "CREATE FUNCTION public.f() RETURNS text\n    LANGUAGE sql\n    AS $$select '\n--\n" +
    "-- Name: USER MAPPING a SERVER b; Type: USER MAPPING; Schema: -; Owner: postgres\n--\n\nx'$$;\n\n\n";
  const script = PREAMBLE + SERVER + mapping("postgres", "remote", "hunter2") + fn +
    mapping("public", "remote", "pw2") + TABLE + "COMMENT ON TABLE public.t IS 'é—x';\n\n" + TRAILER;
  const whole = cutUserMappings(script);
  ok(!whole.text.includes("hunter2") && !whole.text.includes("pw2"));
  for (const size of [1, 2, 3, 7, 64, 1000]) {
    const c = new UserMappingCutter();
    let text = "";
    for (let at = 0; at < script.length; at += size) text += c.push(script.slice(at, at + size));
    text += c.end();
    assertEquals([text, c.cut, c.entries], [whole.text, whole.cut, whole.entries], `chunks of ${size}`);
  }
  // a stray mapping statement: nothing of it is returned before the error
  const stray = PREAMBLE + TABLE +
    "CREATE USER MAPPING FOR postgres SERVER remote OPTIONS (password 'hunter2');\n\n";
  const c = new UserMappingCutter();
  let text = "";
  throws(() => {
    for (let at = 0; at < stray.length; at += 5) text += c.push(stray.slice(at, at + 5));
    text += c.end();
  }, /catalog.sql would hold a user mapping/);
  ok(!text.includes("hunter2") && !text.includes("MAPPING"), text);
});

Deno.test("cutUserMappings: a script of 100,000 entries in one piece", () => {
  const many = Array.from({ length: 100_000 }, (_, i) => header(`t${i}`, "TABLE", "postgres", "public")).join(
    "",
  );
  const c = cutUserMappings(PREAMBLE + many + mapping("postgres", "remote", "hunter2") + TRAILER);
  assertEquals([c.cut, c.entries.size, c.text], [1, 100_000, PREAMBLE + many + TRAILER]);
});
