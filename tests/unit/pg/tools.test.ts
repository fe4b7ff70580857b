import { deepStrictEqual as assertEquals, rejects as assertRejects } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import {
  candidateDirs,
  chooseTools,
  findPgTools,
  parsePgVersion,
  parseServerVersionNum,
  supportsRestrictKey,
} from "../../../lib/pg/tools.ts";

Deno.test("parsePgVersion reads Debian, Homebrew and plain version lines", () => {
  assertEquals(parsePgVersion("pg_dump (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)")?.major, 17);
  assertEquals(parsePgVersion("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)")?.minor, 18);
  assertEquals(parsePgVersion("pg_dump (PostgreSQL) 18beta1")?.major, 18);
  assertEquals(parsePgVersion("psql (PostgreSQL) 16.4 (Homebrew)")?.minor, 4);
  assertEquals(parsePgVersion("something else"), undefined);
});

Deno.test("search order: PG_BIN, PATH, Debian, Homebrew, then the cache", () => {
  const c = candidateDirs({
    minMajor: 17,
    env: { PATH: "/a:/b", PG_BIN: "/pg", HOME: "/home/u" },
    cwd: "/repo",
    maxMajor: 18,
  });
  const dirs = c.map((x) => x.dir);
  assertEquals(dirs.slice(0, 5), [
    "/pg",
    "/a",
    "/b",
    "/usr/lib/postgresql/18/bin",
    "/usr/lib/postgresql/17/bin",
  ]);
  assertEquals(dirs.includes("/opt/homebrew/opt/postgresql@17/bin"), true);
  assertEquals(
    dirs.indexOf("/repo/.cache/pg/client-17/bin") > dirs.indexOf("/opt/homebrew/opt/postgresql@17/bin"),
    true,
  );
  assertEquals(dirs.includes("/home/u/.cache/supabase-backup/pg/client-17/bin"), true);
  assertEquals(c[0].origin, "PG_BIN");
});

Deno.test("chooseTools skips versions older than the server and takes the first good one", () => {
  const cands = [{ dir: "/usr/bin", origin: "PATH" }, { dir: "/x", origin: "debian" }, {
    dir: "/c",
    origin: "cache",
  }];
  const v = (major: number, minor = 0) => ({ major, minor, text: `pg_dump (PostgreSQL) ${major}.${minor}` });
  const found = new Map([["/usr/bin", v(15, 18)], ["/x", undefined], ["/c", v(17, 12)]]);
  assertEquals(chooseTools(cands, found, 17)?.dir, "/c");
  assertEquals(chooseTools(cands, found, 15)?.dir, "/usr/bin");
  assertEquals(chooseTools(cands, found, 18), undefined);
});

Deno.test("restrict-key support follows the 2025 security releases", () => {
  assertEquals(supportsRestrictKey({ major: 17, minor: 5 }), false);
  assertEquals(supportsRestrictKey({ major: 17, minor: 6 }), true);
  assertEquals(supportsRestrictKey({ major: 15, minor: 14 }), true);
  assertEquals(supportsRestrictKey({ major: 15, minor: 13 }), false);
  assertEquals(supportsRestrictKey({ major: 18, minor: 0 }), true);
});

Deno.test("parseServerVersionNum splits server_version_num", () => {
  assertEquals(parseServerVersionNum(170004), { major: 17, minor: 4 });
  assertEquals(parseServerVersionNum(150012), { major: 15, minor: 12 });
  assertEquals(parseServerVersionNum(180000), { major: 18, minor: 0 });
});

/**
 * A directory holding the four tools as scripts whose `--version` says `version` after `delay` seconds,
 * and then leaves a file `answered` in the directory.
 */
async function fakeTools(root: string, name: string, version: string, delay = 0): Promise<string> {
  const dir = `${root}/${name}`;
  await Deno.mkdir(dir);
  for (const t of ["pg_dump", "pg_dumpall", "pg_restore", "psql"]) {
    await Deno.writeTextFile(
      `${dir}/${t}`,
      `#!/bin/sh\nsleep ${delay}\ntouch '${dir}/answered'\necho "${t} (PostgreSQL) ${version}"\n`,
      { mode: 0o755 },
    );
  }
  return dir;
}

Deno.test("findPgTools takes the first suitable directory in search order, and stops the runs after it", async () => {
  const root = await Deno.makeTempDir({ prefix: "tools-test-" });
  const answered = (dir: string) => Deno.stat(`${dir}/answered`).then(() => true, () => false);
  try {
    const slow = await fakeTools(root, "slow", "17.6", 0.3);
    const old = await fakeTools(root, "old", "15.18");
    const quick = await fakeTools(root, "quick", "18.1");
    const later = await fakeTools(root, "later", "17.8", 0.3);
    const env = { PATH: `${old}:${quick}:${slow}` };
    // --pg-bin first: its slow answer is waited for, the quicker later ones are not chosen.
    const a = await findPgTools({ minMajor: 17, pgBin: slow, env, cwd: root });
    assertEquals([a.dir, a.origin, a.version.minor], [slow, "PG_BIN", 6]);
    // Too old first in PATH: the next suitable one.
    const b = await findPgTools({ minMajor: 17, env, cwd: root });
    assertEquals([b.dir, b.origin, b.version.major], [quick, "PATH", 18]);
    // Suitable first: taken, and the run of the directory after it is stopped before it answers.
    const c = await findPgTools({ minMajor: 15, env: { PATH: `${old}:${later}` }, cwd: root });
    assertEquals(c.dir, old);
    await new Promise((r) => setTimeout(r, 600));
    assertEquals(await answered(later), false);
    await assertRejects(
      () => findPgTools({ minMajor: 19, env, cwd: root }),
      (e: unknown) =>
        e instanceof BackupError && e.message.startsWith("no pg_dump 19 or newer found (too old: "),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
