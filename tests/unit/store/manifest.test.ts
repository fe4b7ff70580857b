import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { BackupError, ExitCode } from "../../../lib/base/errors.ts";
import { manifestText, parseManifest, serializeManifest } from "../../../lib/store/manifest.ts";
import { sampleManifest } from "../../support/manifest.ts";

/** A manifest as plain JSON data, to break on purpose. */
// deno-lint-ignore no-explicit-any
type Loose = Record<string, any>;

/** The message of parseManifest on `sampleManifest()` changed by `edit`. */
function problemOf(edit: (m: Loose) => void): string {
  const m = sampleManifest() as unknown as Loose;
  edit(m);
  try {
    parseManifest(JSON.stringify(m), "b/latest/manifest.json");
  } catch (e) {
    ok(e instanceof BackupError, String(e));
    assertEquals(e.exitCode, ExitCode.usage);
    ok(e.hint && /manifest\.json/.test(e.hint), e.hint);
    return e.message;
  }
  throw new Error("parseManifest accepted it");
}

Deno.test("parseManifest reads a complete manifest, and one without the optional fields, as written", () => {
  assertEquals(
    parseManifest(serializeManifest(sampleManifest()), "m"),
    JSON.parse(serializeManifest(sampleManifest())),
  );
  const bare = sampleManifest() as unknown as Record<string, unknown>;
  for (const k of ["environment", "extensions"]) delete bare[k];
  bare.source = { repo: "local", event: "host", sha: "0000000" };
  bare.snapshot = { consistent: true };
  bare.roles = null;
  bare.schemas = [{ name: "x", dump: "x/x.dump", dumpBytes: 0, tables: [] }];
  bare.files = { "a": { bytes: 0, sha256: "0".repeat(64) } };
  assertEquals(parseManifest(JSON.stringify(bare), "m"), bare);
  // fields it does not know (from a newer version) are ignored
  assertEquals(parseManifest(JSON.stringify({ ...sampleManifest(), later: [1] }), "m").format, 1);
});

Deno.test("parseManifest names the first field whose type is wrong", () => {
  const where = "b/latest/manifest.json: manifest field";
  const cases: [(m: Loose) => void, string][] = [
    [(m) => (m.files["roles.sql.age"].bytes = "12"), `files["roles.sql.age"].bytes must be a number`],
    [
      (m) => (m.files["roles.sql.age"].bytes = -1),
      `files["roles.sql.age"].bytes must be a whole number, 0 or more`,
    ],
    [(m) => (m.files["roles.sql.age"].sha256 = 5), `files["roles.sql.age"].sha256 must be a string`],
    [(m) => (m.files["roles.sql.age"].sha256 = "abc"), `files["roles.sql.age"].sha256 must be a SHA-256`],
    [
      (m) => (m.files["roles.sql.age"].stored.bytes = 1.5),
      `files["roles.sql.age"].stored.bytes must be a whole`,
    ],
    [
      (m) => (m.files["roles.sql.age"].compression = "xz"),
      `files["roles.sql.age"].compression must be "gzip" or`,
    ],
    [(m) => (m.files = []), "files must be an object"],
    [(m) => (m.schemas[0].tables = {}), "schemas[0].tables must be an array"],
    [(m) => (m.schemas[0].tables[1].rows = "3"), "schemas[0].tables[1].rows must be a number"],
    [(m) => (m.schemas[0].tables[0].dataFiles = [1]), "schemas[0].tables[0].dataFiles[0] must be a string"],
    [(m) => delete m.schemas[0].dump, "schemas[0].dump is missing"],
    [(m) => (m.source.repo = 5), "source.repo must be a string"],
    [(m) => (m.source.sha = ["x"]), "source.sha must be a string"],
    [(m) => (m.source = "acme"), "source must be an object"],
    [(m) => (m.createdAt = "soon"), "createdAt must be an ISO 8601 time"],
    [(m) => (m.status = "fine"), `status must be "ok" or "partial"`],
    [(m) => (m.snapshot.consistent = "yes"), "snapshot.consistent must be true or false"],
    [(m) => (m.roles = 7), "roles must be a string"],
    [(m) => delete m.durationMs, "durationMs is missing"],
    [(m) => (m.extensions = [{ name: "x" }]), "extensions[0].schema is missing"],
    [(m) => (m.skipped = null), "skipped must be an array"],
  ];
  for (const [edit, want] of cases) {
    const got = problemOf(edit);
    ok(got.startsWith(`${where} ${want}`), `${got}\n  expected: ${where} ${want}`);
  }
});

Deno.test("parseManifest: text that is not JSON, or not a manifest, is an input error too", () => {
  for (
    const [text, msg] of [["{", /is not valid JSON/], ["[]", /is not a supabase-backup manifest/]] as const
  ) {
    throws(
      () => parseManifest(text, "m"),
      (e) => e instanceof BackupError && msg.test(e.message) && e.exitCode === 2,
    );
  }
});

Deno.test("manifestText gives JSON.stringify's text of the manifest (files sorted), in pieces", () => {
  const m = sampleManifest() as unknown as Loose;
  // what JSON.stringify leaves out or turns into null; integer-like keys, which come first
  m.schemas[0].tables[0].partitionOf = undefined;
  m.odd = [undefined, () => 1, null, [], {}, { "12": 1, b: [1, [2, { c: '\u2028"' }]] }, new Date(0)];
  // the same, in values too large to be written as one piece (walked value by value)
  m.oddLarge = Array.from(
    { length: 100 },
    (_, i) => [m.odd, undefined, () => 1, { u: undefined, d: new Date(i) }][i % 4],
  );
  m.turned = { toJSON: (key: string) => ({ key, list: Array.from({ length: 100 }, (_, i) => i) }) };
  m.files["10"] = { bytes: 1, sha256: "1".repeat(64) };
  for (let i = 0; i < 3000; i++) m.files[`t/${i}/data.sql`] = { bytes: i, sha256: "a".repeat(64) };
  const files: Loose = {};
  for (const k of Object.keys(m.files).sort()) files[k] = m.files[k];
  const want = JSON.stringify({ ...m, files }, null, 2) + "\n";
  const pieces = [...manifestText(m as never)];
  ok(pieces.length > 1, `${pieces.length} piece(s)`);
  assertEquals(pieces.join(""), want);
  assertEquals(serializeManifest(m as never), want);
});
