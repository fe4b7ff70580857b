import { deepStrictEqual as assertEquals, notStrictEqual as notEqual, ok } from "node:assert/strict";
import {
  compactTimestamp,
  decodeSegment,
  dumpPartPath,
  dumpPath,
  encodeSchemas,
  encodeSegment,
  encodeSiblings,
  keepsLiteral,
  tableDataPath,
  tableSchemaPath,
} from "../../../lib/store/layout.ts";
import { storedForm } from "../../../lib/store/encode.ts";

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
  // ASCII and caseless letters stay readable; what folding or normalisation changes is encoded
  assertEquals(encodeSegment("日本語"), "日本語");
  assertEquals(encodeSegment("café"), "caf%C3%A9");
  assertEquals(encodeSegment("cafe\u0301"), "cafe%CC%81");
  assertEquals(encodeSegment("\u212a"), "%E2%84%AA");
  assertEquals(encodeSegment("straße"), "stra%C3%9Fe");
  assertEquals(encodeSegment("طلبات"), "طلبات");
  assertEquals(encodeSegment("הזמנות"), "הזמנות");
});

/** What case-insensitive, normalising file systems may do to a name (alone and combined). */
const FOLDS: [string, (s: string) => string][] = [
  ["lower", (s) => s.toLowerCase()],
  ["upper", (s) => s.toUpperCase()],
  ["NFC", (s) => s.normalize("NFC")],
  ["NFD", (s) => s.normalize("NFD")],
  ["NFKC", (s) => s.normalize("NFKC")],
  ["NFKD", (s) => s.normalize("NFKD")],
  [
    "APFS (NFD, then upper and lower)",
    (s) => s.normalize("NFD").toUpperCase().toLowerCase().normalize("NFD"),
  ],
  ["NFKC of lower of upper", (s) => s.toUpperCase().toLowerCase().normalize("NFKC")],
];

/**
 * Characters that case mapping or normalisation change or join, and their look-alikes: é in NFC and
 * NFD, É, K and the Kelvin sign, ß and ẞ and ss, the fi ligature, fullwidth and ASCII %, Ω and the ohm
 * sign, Å and the angstrom sign, dotted and dotless i, Greek sigmas, Cyrillic, Cherokee, Hangul
 * syllables and jamo, a CJK compatibility ideograph and its unified one, combining marks, NBSP and
 * zero-width joiners, plus ASCII with the characters the encoding escapes.
 */
const ALPHABET = [
  ...'aAeEkKsSiIfFzZ09 ._-%/\\:"',
  "é",
  "e\u0301",
  "É",
  "E\u0301",
  "\u212a",
  "ß",
  "ẞ",
  "ﬁ",
  "％",
  "Ａ",
  "ａ",
  "Ω",
  "\u2126",
  "Å",
  "\u212b",
  "İ",
  "ı",
  "Σ",
  "σ",
  "ς",
  "а",
  "А",
  "Ꭰ",
  "ꭰ",
  "한",
  "\u1112",
  "\u1161",
  "\u11ab",
  "\uf900",
  "\u8c48",
  "日",
  "本",
  "\u0301",
  "\u0308",
  "\u00a0",
  "\u200d",
  "\u3099",
  "か",
  "が",
  "ｶ",
  "①",
  "1",
  "²",
];

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("property: distinct names keep distinct segments under every case fold and normalisation", () => {
  const random = prng(16);
  const pick = () => ALPHABET[Math.floor(random() * ALPHABET.length)];
  for (let round = 0; round < 1000; round++) {
    const size = 2 + Math.floor(random() * 12);
    const names = new Set<string>();
    while (names.size < size) {
      const len = Math.floor(random() * 5);
      names.add(Array.from({ length: len }, pick).join(""));
    }
    const list = [...names];
    for (const encode of [encodeSiblings, encodeSchemas]) {
      const segs = encode(list);
      for (const n of list) {
        assertEquals(decodeSegment(segs.get(n)!), n, `round trip of ${JSON.stringify(n)}`);
      }
      for (const [fold, f] of FOLDS) {
        const seen = new Map<string, string>();
        for (const n of list) {
          const folded = f(segs.get(n)!);
          const other = seen.get(folded);
          ok(
            other === undefined,
            `${fold}: ${JSON.stringify(n)} and ${JSON.stringify(other)} share ${folded}`,
          );
          seen.set(folded, n);
        }
      }
    }
  }
});

Deno.test("property: every character kept literally is left alone by case mapping and normalisation", () => {
  // Every code point: one kept literally never changes, and never joins a neighbour: canonical
  // composition only joins a character to one before it when the pair is some character's canonical
  // decomposition, and no kept character (nor any ASCII one) is ever the second part of one.
  const joiners = new Set<string>();
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const parts = [...String.fromCodePoint(cp).normalize("NFD")];
    if (parts.length > 1) ok(cp < 0x30000, `U+${cp.toString(16)} decomposes: layout.ts scans too little`);
    for (const p of parts.slice(1)) joiners.add(p);
  }
  for (const p of joiners) ok(p.codePointAt(0)! > 0x7f, `ASCII ${JSON.stringify(p)} joins under NFC`);
  let kept = 0;
  for (let cp = 0x80; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCodePoint(cp);
    if (!keepsLiteral(ch)) continue;
    kept++;
    ok(!joiners.has(ch), `U+${cp.toString(16)} is part of a decomposition`);
    for (const [fold, f] of FOLDS) assertEquals(f(ch), ch, `${fold} changes U+${cp.toString(16)}`);
  }
  ok(kept > 50_000, `${kept} characters kept`); // CJK, Arabic, Hebrew, … stay readable
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

Deno.test("schema names never clash with manifest.json, roles.sql or catalog.sql, in any stored form or case", () => {
  const stored = new Set<string>(["manifest.json"]);
  for (const compression of [undefined, "gzip", "zstd"] as const) {
    for (const recipients of [[], ["age1x"]]) {
      stored.add(storedForm("roles.sql", { compression, recipients }).name);
      stored.add(storedForm("catalog.sql", { compression, recipients }).name);
    }
  }
  assertEquals(stored.size, 13); // manifest.json; roles.sql and catalog.sql, .gz, .zst, .age, .gz.age, .zst.age
  const names = [
    ...stored,
    ...[...stored].map((n) => n.toUpperCase()),
    "Roles.Sql.Gz.Age",
    "public",
    "roles",
    "catalog",
  ];
  const m = encodeSchemas(names);
  assertEquals(m.get("public"), "public");
  assertEquals(m.get("roles"), "roles");
  for (const n of names) {
    assertEquals(decodeSegment(m.get(n)!), n);
    const seg = m.get(n)!.toLowerCase();
    ok(![...stored].some((f) => f === seg), `${n} is stored as ${seg}, a root file's name`);
  }
  assertEquals(m.get("roles.sql.gz.age"), "%72oles.sql.gz.age");
  assertEquals(m.get("catalog.sql"), "%63atalog.sql");
  assertEquals(m.get("catalog"), "catalog");
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
