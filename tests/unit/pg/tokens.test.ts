import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { isKeyword, stringValue, tokenize, tokenName } from "../../../lib/pg/tokens.ts";

const sig = (s: string) => tokenize(s).filter((t) => t.kind !== "space").map((t) => `${t.kind}:${t.text}`);

Deno.test("tokenize: joining the tokens gives back the statement", () => {
  const s =
    `CREATE TABLE "a""b".t ( x text DEFAULT E'it''s \\' ok' /* c /* nested */ */ -- line\n, y int DEFAULT $f$;$f$ );`;
  assertEquals(tokenize(s).map((t) => t.text).join(""), s);
});

Deno.test("tokenize: quoted names, strings and dollar quotes are single tokens", () => {
  assertEquals(sig(`ALTER TABLE "x; CREATE TABLE y" OWNER TO "r""s";`), [
    "word:ALTER",
    "word:TABLE",
    'quoted:"x; CREATE TABLE y"',
    "word:OWNER",
    "word:TO",
    'quoted:"r""s"',
    "op:;",
  ]);
  assertEquals(sig(`SELECT 'a''b', E'c\\'d', $$e;$$, 1.5e3::numeric, U&"\\0041";`), [
    "word:SELECT",
    "string:'a''b'",
    "op:,",
    "string:E'c\\'d'",
    "op:,",
    "string:$$e;$$",
    "op:,",
    "number:1.5e3",
    "op:::",
    "word:numeric",
    "op:,",
    'other:U&"\\0041"',
    "op:;",
  ]);
});

Deno.test("tokenize: an unterminated quote or comment throws", () => {
  assertThrows(() => tokenize(`SELECT 'abc`));
  assertThrows(() => tokenize(`SELECT "abc`));
  assertThrows(() => tokenize(`SELECT /* abc`));
  assertThrows(() => tokenize(`SELECT $x$ abc`));
});

Deno.test("tokenName, isKeyword, stringValue", () => {
  const [w, , q] = tokenize(`Orders "Mixed ""Case"""`);
  assertEquals(tokenName(w), "orders");
  assertEquals(tokenName(q), 'Mixed "Case"');
  assertEquals(isKeyword(w, "orders"), true);
  assertEquals(isKeyword(tokenize(`"create"`)[0], "create"), false);
  assertEquals(stringValue(tokenize(`'it''s'`)[0]), "it's");
  assertEquals(stringValue(tokenize(`E'a\\nb\\\\c\\'d'`)[0]), "a\nb\\c'd");
  assertEquals(stringValue(tokenize(`$$x$$`)[0]), undefined);
});
