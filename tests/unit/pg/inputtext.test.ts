import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import {
  bytesText,
  ENCODING_WINDOW,
  InputText,
  latin1Bytes,
  latin1Text,
  scriptText,
  utf8Text,
} from "../../../lib/pg/inputtext.ts";
import { BackupError } from "../../../lib/base/errors.ts";

const enc = new TextEncoder();
const HEAD = (encoding: string) =>
  `--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = '${encoding}';\n`;

/** Feeds `bytes` in chunks of `size` and returns the text and the mode. */
function read(bytes: Uint8Array, size: number): { text: string; bytes: boolean } {
  const t = new InputText("test input");
  let text = "";
  for (let i = 0; i < bytes.length; i += size) text += t.push(bytes.subarray(i, i + size));
  text += t.end();
  return { text, bytes: t.bytes };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("InputText: an input that says UTF8 is UTF-8, also when a character is cut between chunks", () => {
  const body = "COPY public.t (v) FROM stdin;\ncafé 🦆 Ω\n\\.\n";
  const input = enc.encode(HEAD("UTF8") + body);
  for (const size of [1, 2, 3, 7, 64, 100_000]) {
    const r = read(input, size);
    assertEquals(r, { text: HEAD("UTF8") + body, bytes: false }, `chunks of ${size}`);
  }
});

Deno.test("InputText: an input that says UTF8 but holds other bytes is refused, not replaced", () => {
  const input = concat(enc.encode(HEAD("UTF8") + "COPY t (v) FROM stdin;\ncaf"), new Uint8Array([0xe9, 10]));
  for (const size of [5, 100_000]) {
    throws(() => read(input, size), (e: unknown) => {
      ok(e instanceof BackupError);
      ok(
        /test input: the input says its encoding is UTF8 but holds bytes that are not UTF-8/.test(e.message),
      );
      ok(/verify/.test(e.hint ?? ""));
      return true;
    });
  }
});

Deno.test("InputText: SQL_ASCII, LATIN1 and unnamed inputs are one character per byte, every byte kept", () => {
  const all = new Uint8Array(255).map((_, i) => i + 1);
  for (const head of [HEAD("SQL_ASCII"), HEAD("LATIN1"), "COPY t (v) FROM stdin;\n"]) {
    const input = concat(enc.encode(head), all, enc.encode("\n\\.\n"));
    for (const size of [1, 1000, 100_000]) {
      const r = read(input, size);
      ok(r.bytes, head);
      assertEquals(r.text.length, input.length);
      assertEquals(latin1Bytes(r.text), input);
    }
  }
});

Deno.test("InputText: the encoding is looked for in the first 4 KiB only", () => {
  const late = enc.encode("-- " + "x".repeat(ENCODING_WINDOW) + "\n" + HEAD("UTF8") + "é\n");
  const r = read(late, 1024);
  ok(r.bytes);
  assertEquals(utf8Text(r.text), new TextDecoder().decode(late));
});

Deno.test("latin1Text, latin1Bytes, utf8Text and bytesText are inverses", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  assertEquals(latin1Bytes(latin1Text(all)), all);
  assertEquals(latin1Text(all).length, 256);
  for (const s of ["plain", "café", "🦆 \u0000 Ω", ""]) {
    assertEquals(utf8Text(bytesText(s)), s);
    assertEquals(latin1Bytes(bytesText(s)), enc.encode(s));
  }
});

Deno.test("scriptText: LATIN1 by code point, every other script as strict UTF-8, other bytes refused", () => {
  const cafe = (encoding: string, e: Uint8Array) =>
    new Uint8Array([...enc.encode(`${HEAD(encoding)}CREATE TABLE "caf`), ...e, 0x22]);
  // A LATIN1 script (a backup made before backups were written in UTF-8): é is the byte 0xE9.
  assertEquals(
    scriptText(cafe("LATIN1", new Uint8Array([0xe9])), "x"),
    `${HEAD("LATIN1")}CREATE TABLE "café"`,
  );
  for (const named of ["UTF8", "SQL_ASCII"]) {
    assertEquals(scriptText(cafe(named, enc.encode("é")), "x"), `${HEAD(named)}CREATE TABLE "café"`);
  }
  const refused = (named: string, message: RegExp) =>
    throws(() => scriptText(cafe(named, new Uint8Array([0xe9])), "reading public.dump"), (e: unknown) => {
      ok(e instanceof BackupError && message.test(e.message), String(e));
      return true;
    });
  refused(
    "UTF8",
    /^reading public\.dump: the input says its encoding is UTF8 but holds bytes that are not UTF-8/,
  );
  refused(
    "SQL_ASCII",
    /^reading public\.dump: its definitions hold bytes that are not UTF-8 in a SQL_ASCII database, which a restore cannot carry unchanged; nothing of it was run$/,
  );
});

Deno.test("InputText: an input that names a client-only encoding (SJIS, BIG5, GBK, ...) is refused", () => {
  for (const named of ["SJIS", "Shift_JIS", "big5", "GBK", "GB18030"]) {
    throws(() => read(enc.encode(`${HEAD(named)}SELECT 1;\n`), 7), (e: unknown) => {
      ok(
        e instanceof BackupError &&
          /names the client encoding .*, which no backup is written in/.test(e.message),
      );
      return true;
    });
  }
  assertEquals(read(enc.encode(`${HEAD("WIN1252")}SELECT 1;\n`), 7).bytes, true);
});
