import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import { openInBackup, unsafePathReason } from "../../../lib/store/safepath.ts";

Deno.test("unsafePathReason accepts backup paths and names what is wrong with the others", () => {
  for (const good of ["manifest.json", "public/users/data.sql", "Sales %22EU%22/t/schema.sql", "a/b.c/d"]) {
    assertEquals(unsafePathReason(good), undefined, good);
  }
  assertEquals(unsafePathReason("../../../../etc/passwd"), "holds the segment '..'");
  assertEquals(unsafePathReason("public/../../x"), "holds the segment '..'");
  assertEquals(unsafePathReason("/etc/passwd"), "is absolute");
  assertEquals(unsafePathReason("a\\..\\b"), "holds a backslash");
  assertEquals(unsafePathReason("a//b"), "holds the segment ''");
  assertEquals(unsafePathReason("./a"), "holds the segment '.'");
  assertEquals(unsafePathReason("a\nb"), "holds a control character");
  assertEquals(unsafePathReason(""), "is not a non-empty string");
  assertEquals(unsafePathReason(5), "is not a non-empty string");
});

Deno.test("openInBackup refuses symlinks, symlinked folders and non-regular files (exit 2)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/s/t`, { recursive: true });
    await Deno.writeTextFile(`${dir}/s/t/data.sql`, "ok");
    const f = await openInBackup(dir, "s/t/data.sql");
    assertEquals(new TextDecoder().decode(await new Response(f.readable).arrayBuffer()), "ok");
    await Deno.symlink("/etc/hostname", `${dir}/s/t/link.sql`);
    await Deno.symlink(`${dir}/s/t`, `${dir}/s/u`);
    await Deno.symlink("/dev/zero", `${dir}/s/zero.sql`);
    for (
      const [rel, why] of [["s/t/link.sql", "symlink"], ["s/u/data.sql", "symlink"], [
        "s/zero.sql",
        "symlink",
      ], [
        "s/t",
        "not a regular file",
      ], ["../x", "'..'"]]
    ) {
      await rejects(openInBackup(dir, rel), (e: unknown) => {
        ok(e instanceof BackupError && e.exitCode === 2 && e.message.includes(why), `${rel}: ${e}`);
        return true;
      });
    }
    await rejects(openInBackup(dir, "s/missing.sql"), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
