/** The manifest checker's verdicts on a real directory (no database): plaintext, stored form, order. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { BackupError } from "../../../lib/base/errors.ts";
import { checkFiles, throwOnFaults, unlistedFiles } from "../../../lib/store/check.ts";
import type { Manifest, ManifestFile } from "../../../lib/store/manifest.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const sum = (b: Uint8Array) => ({ bytes: b.length, sha256: createHash("sha256").update(b).digest("hex") });

async function gzip(b: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const out = ReadableStream.from([b]).pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(out).arrayBuffer());
}

/** A directory with `files` written as given and a manifest of their entries, in that order. */
async function tree(files: [string, Uint8Array, ManifestFile][]): Promise<{ dir: string; m: Manifest }> {
  const dir = await Deno.makeTempDir({ prefix: "check-test-" });
  const listed: Manifest["files"] = {};
  for (const [rel, b, entry] of files) {
    await Deno.mkdir(dirname(`${dir}/${rel}`), { recursive: true });
    await Deno.writeFile(`${dir}/${rel}`, b);
    listed[rel] = entry;
  }
  await Deno.writeTextFile(`${dir}/manifest.json`, "{}");
  return { dir, m: { files: listed } as Manifest };
}

Deno.test("checkFiles: missing, size, checksum and unlisted files, in the order given", async () => {
  const a = enc("alpha\n"), b = enc("beta\n"), c = enc("gamma\n");
  const { dir, m } = await tree([["s/a.sql", a, sum(a)], ["s/b.sql", b, sum(b)], ["c.sql", c, sum(c)]]);
  try {
    assertEquals(await checkFiles(dir, m, Object.keys(m.files)), []);
    await Deno.writeFile(`${dir}/s/a.sql`, enc("alpha!\n"));
    await Deno.writeFile(`${dir}/s/b.sql`, enc("betA\n"));
    await Deno.remove(`${dir}/c.sql`);
    const faults = await checkFiles(dir, m, ["c.sql", "s/a.sql", "s/b.sql", "nope.sql"], { jobs: 2 });
    assertEquals(faults.map((f) => [f.file, f.problem]), [
      ["c.sql", "missing"],
      ["s/a.sql", "size"],
      ["s/b.sql", "checksum"],
      ["nope.sql", "missing"],
    ]);
    assertEquals(faults[1].detail, "7 bytes, the manifest says 6");
    assertEquals(faults[3].detail, "not listed in manifest.json");
    // firstOnly: only the first bad file in the order given.
    const first = await checkFiles(dir, m, ["s/b.sql", "s/a.sql"], { firstOnly: true });
    assertEquals(first.map((f) => f.file), ["s/b.sql"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkFiles: a compressed file is checked as its plaintext, or as stored bytes with `stored`", async () => {
  const plain = enc("row 1\nrow 2\n".repeat(100));
  const packed = await gzip(plain);
  const entry: ManifestFile = { ...sum(plain), compression: "gzip", stored: sum(packed) };
  const { dir, m } = await tree([["t/data.sql.gz", packed, entry]]);
  try {
    assertEquals(await checkFiles(dir, m, ["t/data.sql.gz"]), []);
    assertEquals(await checkFiles(dir, m, ["t/data.sql.gz"], { stored: true }), []);
    // A manifest whose stored form is wrong: only the stored check sees it.
    m.files["t/data.sql.gz"] = { ...entry, stored: { ...entry.stored!, sha256: "0".repeat(64) } };
    assertEquals(await checkFiles(dir, m, ["t/data.sql.gz"]), []);
    assertEquals((await checkFiles(dir, m, ["t/data.sql.gz"], { stored: true }))[0]?.problem, "checksum");
    // Bytes that are not gzip: unreadable as plaintext.
    await Deno.writeFile(`${dir}/t/data.sql.gz`, enc("not gzip"));
    assertEquals((await checkFiles(dir, m, ["t/data.sql.gz"]))[0]?.problem, "unreadable");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unlistedFiles: sorted, manifest.json aside, and names like toString are not taken as listed", async () => {
  const a = enc("a");
  const { dir, m } = await tree([["s/a.sql", a, sum(a)]]);
  try {
    assertEquals(await unlistedFiles(dir, m), []);
    for (const extra of ["toString", "s/z.sql", "constructor", "__proto__"]) {
      await Deno.writeFile(`${dir}/${extra}`, a);
    }
    assertEquals(await unlistedFiles(dir, m), ["__proto__", "constructor", "s/z.sql", "toString"]);
    assertEquals((await checkFiles(dir, m, ["toString"]))[0]?.detail, "not listed in manifest.json");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("throwOnFaults names the first bad file and counts the others", () => {
  throwOnFaults([], "/b", "restore");
  try {
    throwOnFaults(
      [
        { file: "x.sql", problem: "missing", detail: "file is missing" },
        { file: "y.sql", problem: "size", detail: "1 bytes, the manifest says 2" },
      ],
      "/b",
      "restore",
    );
    throw new Error("no error");
  } catch (e) {
    assertEquals(e instanceof BackupError, true);
    assertEquals(
      (e as BackupError).message,
      "restore: backup file x.sql is damaged: file is missing (and 1 more bad file(s))",
    );
  }
});
