/** A bench's command line (bench/args.ts): --help, and bad flags as `error:` + `hint:`, exit 2. */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { join } from "node:path";
import { BackupError, ExitCode } from "../../../lib/base/errors.ts";
import { backupFileArg, checkoutArg, intArg, parseBenchArgs } from "../../../bench/args.ts";
import { REPO } from "../../support/paths.ts";
import * as bench from "../../../bench/bench.ts";
import * as storage from "../../../bench/storage.ts";
import * as git from "../../../bench/git.ts";
import * as store from "../../../bench/store.ts";
import * as diff from "../../../bench/diff.ts";

const OPTIONS = { files: { type: "string" }, help: { type: "boolean", short: "h" } } as const;

/** Asserts that `fn` throws a usage BackupError with this message and a hint naming --help. */
function throwsUsage(fn: () => unknown, message: string) {
  assertThrows(fn, (e) => {
    assert(e instanceof BackupError);
    assertEquals([e.message, e.hint, e.exitCode], [
      message,
      "see 'deno task bench:x --help'",
      ExitCode.usage,
    ]);
    return true;
  });
}

Deno.test("parseBenchArgs gives the values, and --help or -h as a flag", () => {
  const plain = (v: object) => ({ ...v }); // parseArgs gives objects without a prototype
  assertEquals(plain(parseBenchArgs("bench:x", ["--files", "7"], OPTIONS)), { files: "7" });
  assertEquals(plain(parseBenchArgs("bench:x", ["-h"], OPTIONS)), { help: true });
  assertEquals(plain(parseBenchArgs("bench:x", [], OPTIONS)), {});
});

Deno.test("parseBenchArgs: an unknown flag, a missing value, a stray argument are usage errors", () => {
  throwsUsage(() => parseBenchArgs("bench:x", ["--bogus"], OPTIONS), "unknown flag '--bogus' for 'bench:x'");
  throwsUsage(() => parseBenchArgs("bench:x", ["--files"], OPTIONS), "flag '--files' needs a value");
  throwsUsage(() => parseBenchArgs("bench:x", ["extra"], OPTIONS), "unexpected argument 'extra'");
});

Deno.test("intArg: the default when absent, the number when an integer of at least min, else a usage error", () => {
  assertEquals(intArg("bench:x", "files", undefined, 500, 1), 500);
  assertEquals(intArg("bench:x", "files", "3", 500, 1), 3);
  assertEquals(intArg("bench:x", "rtt", "0", 20, 0), 0);
  for (const raw of ["0", "-1", "1.5", "x", "", " ", "1e400"]) {
    throwsUsage(
      () => intArg("bench:x", "files", raw, 500, 1),
      `--files must be an integer of at least 1, got '${raw}'`,
    );
  }
});

Deno.test("checkoutArg and backupFileArg: another checkout's folder or backup.ts, else a usage error", async () => {
  assertEquals(await checkoutArg(REPO), REPO);
  await backupFileArg(join(REPO, "backup.ts"), "tool");
  const empty = await Deno.makeTempDir({ prefix: "bench-args-" });
  try {
    const rejects = async (p: Promise<unknown>, message: string, hint: string) => {
      const e = await p.then(() => undefined, (e) => e);
      assert(e instanceof BackupError, String(e));
      assertEquals([e.message, e.hint, e.exitCode], [message, hint, ExitCode.usage]);
    };
    const checkout = "another checkout, e.g. a worktree of the start code";
    await rejects(
      checkoutArg(empty),
      `--compare ${empty}: no backup.ts there`,
      `give the folder of ${checkout}`,
    );
    await rejects(
      backupFileArg(join(empty, "backup.ts"), "compare"),
      `--compare ${join(empty, "backup.ts")}: no such file`,
      `give the backup.ts of ${checkout}`,
    );
    await rejects(
      backupFileArg(empty, "tool"),
      `--tool ${empty}: no such file`,
      `give the backup.ts of ${checkout}`,
    );
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

/** Each bench: its file, its task, what --help prints, its flags, and a valid flag to put before an unknown one. */
const BENCHES = [
  { file: "bench.ts", task: "bench", ...bench, valid: "--large" },
  { file: "storage.ts", task: "bench:storage", ...storage, valid: "--rounds=3" },
  { file: "git.ts", task: "bench:git", ...git, valid: "--days=3" },
  { file: "store.ts", task: "bench:store", ...store, valid: "--only=s3" },
  { file: "diff.ts", task: "bench:diff", ...diff, valid: "--mb=3" },
];

Deno.test("the usage of each bench starts with its task and names every flag it takes", () => {
  for (const b of BENCHES) {
    assert(b.USAGE.startsWith(`usage: deno task ${b.task} [options]\n`), b.USAGE);
    for (const flag of Object.keys(b.FLAGS)) {
      assert(new RegExp(`^  --${flag} `, "m").test(b.USAGE), `--${flag} missing from the usage of ${b.task}`);
    }
  }
});

for (const b of BENCHES) {
  Deno.test(`bench/${b.file}: --help prints the usage and exits 0; an unknown flag is two lines and exit 2`, async () => {
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--quiet", join(REPO, "bench", b.file), ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    const help = await run("--help");
    assertEquals([help.code, help.stdout, help.stderr], [ExitCode.ok, `${b.USAGE}\n`, ""]);
    const bad = await run(b.valid, "--bogus");
    assertEquals([bad.code, bad.stdout, bad.stderr], [
      ExitCode.usage,
      "",
      `error: unknown flag '--bogus' for '${b.task}'\nhint: see 'deno task ${b.task} --help'\n`,
    ]);
  });
}
