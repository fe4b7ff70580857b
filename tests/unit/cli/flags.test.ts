import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import {
  COMMANDS,
  defaultText,
  EXIT_CODES,
  FLAGS,
  flagsOf,
  type FlagSpec,
  helpText,
  type IntFlag,
  intValue,
  type IntWithDefault,
  type IntWithoutDefault,
  optionalInt,
  parseCli,
  stringValue,
  type StringWithDefault,
} from "../../../lib/cli/flags.ts";
import { ExitCode } from "../../../lib/base/errors.ts";
import { assertGolden } from "../../support/golden.ts";
import { REPO } from "../../support/paths.ts";

Deno.test("help text of the tool and of every command (golden)", async () => {
  await assertGolden("help/main.txt", helpText());
  for (const c of COMMANDS) await assertGolden(`help/${c}.txt`, helpText(c));
});

Deno.test("backup is the default command; flags fall back to their environment variable", () => {
  const a = parseCli(["--jobs", "3"], {
    SUPABASE_DB_URL: "postgresql://x",
    BACKUP_DIR: "/b",
    BACKUP_COMMIT: "true",
  });
  assertEquals(a.command, "backup");
  assertEquals(a.values.jobs, "3");
  assertEquals(a.origin.jobs, "--jobs");
  assertEquals(a.values["db-url"], "postgresql://x");
  assertEquals(a.origin["db-url"], "$SUPABASE_DB_URL");
  assertEquals(a.values.out, "/b");
  assertEquals(a.values.commit, true);
  // a flag beats its variable
  assertEquals(parseCli(["list", "--out", "/flag"], { BACKUP_DIR: "/env" }).values.out, "/flag");
});

Deno.test("unknown commands and flags, and missing values, are usage errors", () => {
  const usage = (re: RegExp) => (e: Error & { exitCode?: number; hint?: string }) =>
    re.test(e.message) && e.exitCode === 2 && !!e.hint;
  throws(() => parseCli(["bakup"], {}), usage(/unknown command 'bakup'/));
  throws(() => parseCli(["backup", "--nope"], {}), usage(/unknown flag '--nope' for 'backup'/));
  throws(() => parseCli(["list", "--db-url", "x"], {}), usage(/unknown flag '--db-url' for 'list'/));
  throws(() => parseCli(["backup", "--jobs"], {}), usage(/--jobs' needs a value/));
  throws(() => parseCli(["backup", "stray"], {}), usage(/unknown command 'stray'|unexpected argument/));
});

Deno.test("intValue names the flag or variable and the range", () => {
  const a = parseCli(["--jobs", "0"], { BACKUP_RETRIES: "x" });
  throws(() => intValue(a, "jobs"), /--jobs must be a whole number from 1 to 16, got '0'/);
  throws(() => intValue(a, "retries"), /\$BACKUP_RETRIES must be a whole number/);
  assertEquals(intValue(parseCli([], {}), "jobs"), 4);
});

/** The help line (the one after the flag's name) of `f` in `help`. */
function helpLineOf(help: string, f: FlagSpec): string {
  const lines = help.split("\n");
  const i = lines.findIndex((l) => new RegExp(`^  (-\\w, |    )--${f.name}( |$)`).test(l));
  ok(i >= 0, `--${f.name} is not in the help`);
  return lines[i + 1];
}

/** The range of an int flag as help shows it, or undefined when its help does not show it. */
function shownRange(f: FlagSpec): string | undefined {
  return f.type === "int" && f.help.includes("{range}") ? `(${f.min}-${f.max})` : undefined;
}

Deno.test("no help line of the flag table writes a default or range by hand", () => {
  for (const f of FLAGS) {
    ok(
      !/\(\d+-\d+\)|\(default/i.test(f.help),
      `--${f.name}: put the default or range in the table, not the help`,
    );
    if (f.type === "int") {
      ok(f.min <= f.max && (f.default === undefined || (f.default >= f.min && f.default <= f.max)), f.name);
    }
  }
});

Deno.test("each command's --help shows each flag's default and range from the flag table", () => {
  let checked = 0;
  for (const c of COMMANDS) {
    const help = helpText(c);
    for (const f of flagsOf(c)) {
      const line = helpLineOf(help, f);
      const want = defaultText(f);
      if (want) ok(line.includes(`(default: ${want}`), `${c} --${f.name}: want default ${want} in '${line}'`);
      else ok(!line.includes("default:"), `${c} --${f.name} has no default: '${line}'`);
      const range = shownRange(f);
      if (range) ok(line.includes(range) && !line.includes("{range}"), `${c} --${f.name}: want ${range}`);
      checked++;
    }
  }
  ok(checked > 80, `only ${checked} flags checked`);
});

Deno.test("docs/configuration.md shows each flag's default and range from the flag table", async () => {
  const doc = await Deno.readTextFile(`${REPO}/docs/configuration.md`);
  for (const c of COMMANDS) {
    const start = doc.indexOf(`### \`${c}\``);
    ok(start >= 0, `no section for ${c}`);
    const end = doc.slice(start + 1).search(/\n##/);
    const rows = doc.slice(start, end < 0 ? undefined : start + 1 + end).split("\n")
      .filter((l) => l.startsWith("| `"))
      .map((l) => l.split(/(?<!\\)\|/).slice(1, -1).map((x) => x.trim()));
    assertEquals(rows.length, flagsOf(c).length, `rows of ${c}`);
    for (const f of flagsOf(c)) {
      const row = rows.find((r) => new RegExp(`\`--${f.name}[ \`]`).test(r[0]));
      ok(row, `${c}: --${f.name} has no row`);
      assertEquals(row[2], defaultText(f), `${c} --${f.name}: default`);
      const range = shownRange(f);
      if (range) ok(row[3].includes(range), `${c} --${f.name}: range ${range} in '${row[3]}'`);
    }
  }
});

Deno.test("the flag readers take defaults and ranges from the flag table", () => {
  const none = parseCli(["backup"], {});
  for (const f of FLAGS) {
    if (f.type === "int") {
      const read = (v: string) => {
        const a = parseCli([f.commands[0], `--${f.name}=${v}`], {});
        return f.default === undefined
          ? optionalInt(a, f.name as IntWithoutDefault)
          : intValue(a, f.name as IntWithDefault);
      };
      const absent = parseCli([f.commands[0]], {});
      assertEquals(
        f.default === undefined
          ? optionalInt(absent, f.name as IntWithoutDefault)
          : intValue(absent, f.name as IntWithDefault),
        f.default,
      );
      assertEquals([read(String(f.min)), read(String(f.max))], [f.min, f.max]);
      const range = new RegExp(`--${f.name} must be a whole number from ${f.min} to ${f.max}`);
      throws(() => read(String(f.min - 1)), range);
      throws(() => read(String(f.max + 1)), range);
    } else if (f.type === "string" && f.default !== undefined) {
      assertEquals(stringValue(none, f.name as StringWithDefault), f.default);
    }
  }
  const ints = FLAGS.filter((f): f is IntFlag => f.type === "int").map((f) => f.name);
  assertEquals(ints.sort(), [
    "connect-timeout",
    "jobs",
    "keep-daily",
    "keep-last",
    "keep-monthly",
    "keep-weekly",
    "retries",
  ]);
});

Deno.test("the exit-code table of --help is ExitCode: every code once, in order", () => {
  const codes = EXIT_CODES.map(([c]) => c);
  assertEquals(codes, [...codes].sort((a, b) => a - b));
  assertEquals(new Set(codes).size, codes.length);
  const values: number[] = Object.values(ExitCode);
  for (const c of codes) ok(values.includes(c), `${c} is not an ExitCode`);
  for (const v of values) {
    ok(
      codes.includes(v) || EXIT_CODES.some(([, text]) => new RegExp(`\\b${v}\\b`).test(text)),
      `ExitCode ${v} is missing from EXIT_CODES`,
    );
  }
  const help = helpText();
  for (const [c, text] of EXIT_CODES) ok(help.includes(`${String(c).padStart(3)}  ${text}`), text);
});

Deno.test("a stray argument is quoted without its secret: URL passwords masked, secret keys not shown", () => {
  const message = (argv: string[]) => {
    try {
      parseCli(argv, {});
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  };
  assertEquals(
    message(["backup", "postgresql://u:hunter2@h:5432/db"]),
    "unexpected argument 'postgresql://u:****@h:5432/db'",
  );
  const id = "AGE-SECRET-KEY-1HU5C49H5LUNZVCT7E2QRRSA9DTMPXVJ3VMYN3Q6394FPTHVE78TSCVDMZ5";
  assertEquals(message(["backup", id]), "unexpected argument (a secret key, not shown)");
  assertEquals(message(["backup", "extra"]), "unexpected argument 'extra'");
});
