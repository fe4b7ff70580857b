/** A bench's command line (bench/args.ts): --help, and bad flags as `error:` + `hint:`, exit 2. */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { join } from "node:path";
import { BackupError, ExitCode } from "../../../lib/base/errors.ts";
import { intArg, parseBenchArgs } from "../../../bench/args.ts";
import { REPO } from "../../support/paths.ts";

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

Deno.test("bench/storage.ts: --help prints the usage and exits 0; an unknown flag is two lines and exit 2", async () => {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", join(REPO, "bench", "storage.ts"), ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  const help = await run("--help");
  assertEquals(help.code, 0);
  assert(help.stdout.startsWith("usage: deno task bench:storage [options]\n"), help.stdout);
  for (const flag of ["--files", "--mb", "--jobs", "--rounds", "--compare", "--help"]) {
    assert(help.stdout.includes(`  ${flag} `), `${flag} missing from the usage`);
  }
  const bad = await run("--rounds", "3", "--bogus");
  assertEquals([bad.code, bad.stdout, bad.stderr], [
    ExitCode.usage,
    "",
    "error: unknown flag '--bogus' for 'bench:storage'\nhint: see 'deno task bench:storage --help'\n",
  ]);
});
