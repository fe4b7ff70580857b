/** hashFile across block boundaries, and checkStaging's verdicts on a staging directory (no database). */
import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { BackupError } from "../../../lib/base/errors.ts";
import type { Manifest } from "../../../lib/store/manifest.ts";
import { BUFFER, hashFile } from "../../../lib/store/sink.ts";
import { checkStaging } from "../../../lib/store/staging.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255;
  return b;
}

/** A staging directory with `files` written and a manifest listing them in that order. */
async function staged(files: [string, Uint8Array][]): Promise<{ dir: string; m: Manifest }> {
  const dir = await Deno.makeTempDir({ prefix: "staging-test-" });
  const listed: Manifest["files"] = {};
  for (const [rel, b] of files) {
    await Deno.mkdir(dirname(`${dir}/${rel}`), { recursive: true });
    await Deno.writeFile(`${dir}/${rel}`, b);
    listed[rel] = { bytes: b.length, sha256: sha(b) };
  }
  await Deno.writeTextFile(`${dir}/manifest.json`, "{}");
  return { dir, m: { files: listed } as Manifest };
}

const failsWith = (p: Promise<void>, message: string) =>
  rejects(p, (e: unknown) => e instanceof BackupError && (assertEquals(e.message, message), true));

Deno.test("hashFile: size and SHA-256 at and around the block size, empty included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "staging-test-" });
  try {
    const reused = new Uint8Array(BUFFER);
    for (const n of [0, 1, BUFFER - 1, BUFFER, BUFFER + 1, 3 * BUFFER + 7]) {
      const b = bytes(n, n);
      await Deno.writeFile(`${dir}/f`, b);
      assertEquals(await hashFile(`${dir}/f`), { bytes: n, sha256: sha(b) });
      assertEquals(await hashFile(`${dir}/f`, reused), { bytes: n, sha256: sha(b) });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkStaging: names the first bad file in manifest order, even when a later one fails first", async () => {
  // a is large (its check ends last), b and c are small; all three are bad.
  const { dir, m } = await staged([
    ["s/a.dump", bytes(6 * BUFFER, 1)],
    ["s/tables/b/schema.sql", bytes(10, 2)],
    ["s/tables/c/schema.sql", bytes(10, 3)],
    ["s/tables/d/data.sql", bytes(BUFFER + 5, 4)],
  ]);
  try {
    await checkStaging(dir, m);
    for (const rel of ["s/a.dump", "s/tables/b/schema.sql", "s/tables/c/schema.sql"]) {
      await Deno.writeFile(`${dir}/${rel}`, new Uint8Array([1]), { append: true });
    }
    await failsWith(checkStaging(dir, m), "backup check failed: s/a.dump does not match what was written");
    await Deno.remove(`${dir}/s/tables/d/data.sql`);
    await failsWith(checkStaging(dir, m), "backup check failed: s/a.dump does not match what was written");
    m.files["s/a.dump"] = await hashFile(`${dir}/s/a.dump`);
    await failsWith(
      checkStaging(dir, m),
      "backup check failed: s/tables/b/schema.sql does not match what was written",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkStaging: a missing file, then a file the manifest does not list", async () => {
  const { dir, m } = await staged([["a.sql", bytes(100, 1)], ["b.sql", bytes(100, 2)]]);
  try {
    await Deno.remove(`${dir}/b.sql`);
    await failsWith(checkStaging(dir, m), "backup check failed: b.sql is missing");
    delete m.files["b.sql"];
    await Deno.mkdir(`${dir}/x`);
    await Deno.writeFile(`${dir}/x/extra.sql`, new Uint8Array(1));
    await failsWith(checkStaging(dir, m), "backup check failed: unexpected file x/extra.sql");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
