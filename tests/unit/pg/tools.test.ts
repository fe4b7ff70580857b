import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  candidateDirs,
  chooseTools,
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
