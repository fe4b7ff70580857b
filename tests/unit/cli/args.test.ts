/**
 * The shared flag readers of lib/cli/args.ts (and the encoding flags of lib/cli/encoding.ts): roots,
 * connection settings, git identity, retention and encoding flags turned into plain values, or usage
 * errors naming the flag.
 */
import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { parseCli, type ParsedArgs } from "../../../lib/cli/flags.ts";
import {
  connectionSettings,
  gitIdentity,
  policyFromArgs,
  rootFromArgs,
  rootsFromArgs,
  warnIfOnCommandLine,
} from "../../../lib/cli/args.ts";
import { encodeSettings } from "../../../lib/cli/encoding.ts";
import { parseDbUrl } from "../../../lib/pg/url.ts";
import { parseRecipients } from "../../../lib/store/encode.ts";
import { BackupError } from "../../../lib/base/errors.ts";
import { REPO } from "../../support/paths.ts";

function args(values: ParsedArgs["values"]): ParsedArgs {
  return { command: "backup", values, origin: {}, help: false };
}

Deno.test("rootsFromArgs: --out alone, one --env, and --env both", () => {
  assertEquals(rootsFromArgs(parseCli(["list"], {})), { out: "backups", roots: [{ root: "backups" }] });
  assertEquals(rootsFromArgs(parseCli(["prune", "--out", "/b", "--env", "dev"], {})), {
    out: "/b",
    roots: [{ root: "/b/dev", env: "dev" }],
  });
  assertEquals(rootsFromArgs(parseCli(["list", "--env", "both"], { BACKUP_DIR: "/x" })).roots, [
    { root: "/x/prod", env: "prod" },
    { root: "/x/dev", env: "dev" },
  ]);
  assertEquals(rootFromArgs(parseCli(["verify", "--env", "prod"], {})), "backups/prod");
});

Deno.test("connectionSettings and gitIdentity: the table's defaults, or the values given", () => {
  assertEquals(connectionSettings(parseCli(["restore"], {})), {
    ipv4: false,
    connectTimeout: 10,
    retries: 4,
  });
  assertEquals(
    connectionSettings(parseCli(["verify", "--ipv4", "--connect-timeout", "3"], { BACKUP_RETRIES: "0" })),
    { ipv4: true, connectTimeout: 3, retries: 0 },
  );
  throws(() => connectionSettings(parseCli(["backup", "--retries", "21"], {})), /--retries must be a whole/);
  assertEquals(gitIdentity(parseCli(["prune"], {})), {
    name: "supabase-backup[bot]",
    email: "supabase-backup@users.noreply.github.com",
  });
  assertEquals(gitIdentity(parseCli(["backup", "--git-name", "n"], { BACKUP_GIT_EMAIL: "e@x" })), {
    name: "n",
    email: "e@x",
  });
});

Deno.test("encodeSettings validates --compress, --encrypt-to and --recipients-file", async () => {
  const id = await generateIdentity();
  const rcp = await identityToRecipient(id);
  assertEquals(encodeSettings(args({})), { recipients: [] });
  assertEquals(encodeSettings(args({ compress: "zstd", "encrypt-to": [rcp, rcp] })), {
    compression: "zstd",
    recipients: [rcp],
  });
  const usage = (e: unknown) => e instanceof BackupError && e.exitCode === 2;
  throws(() => encodeSettings(args({ compress: "xz" })), usage);
  throws(() => encodeSettings(args({ "encrypt-to": ["age1notakey"] })), usage);
  throws(() => encodeSettings(args({ "encrypt-to": ["ssh-ed25519 AAAA"] })), usage);
  throws(() => encodeSettings(args({ "recipients-file": "/nonexistent/r.txt" })), usage);
  throws(() => parseRecipients("", "f") && encodeSettings(args({ "recipients-file": "/dev/null" })), usage);
});

Deno.test("policyFromArgs: reads the --keep-* flags; none gives undefined; bad values name the flag", () => {
  const parse = (argv: string[]) => policyFromArgs(parseCli(["prune", ...argv], {}));
  assertEquals(parse([]), undefined);
  assertEquals(parse(["--keep-last", "3", "--keep-within", "2w"]), {
    keepLast: 3,
    keepWithin: { text: "2w", hours: 0, days: 14, months: 0, years: 0 },
  });
  assertEquals(parse(["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "12"]), {
    keepDaily: 7,
    keepWeekly: 4,
    keepMonthly: 12,
  });
  for (
    const [argv, flag] of [
      [["--keep-last=-1"], "--keep-last"],
      [["--keep-daily", "0"], "--keep-daily"],
      [["--keep-weekly", "two"], "--keep-weekly"],
      [["--keep-monthly", "1.5"], "--keep-monthly"],
      [["--keep-within", "forever"], "--keep-within"],
    ] as const
  ) {
    let err: unknown;
    try {
      parse([...argv]);
    } catch (e) {
      err = e;
    }
    assert(err instanceof BackupError && err.exitCode === 2 && err.message.includes(flag), argv.join(" "));
  }
});

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await sources(path));
    else if (e.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

Deno.test("only lib/cli/ and cmd/ read flags: no other lib/ folder imports lib/cli/, no command a command", async () => {
  const wrong: string[] = [];
  const files = [...await sources(`${REPO}/lib`), ...await sources(`${REPO}/cmd`)];
  for (const file of files) {
    const rel = file.slice(REPO.length + 1);
    const text = await Deno.readTextFile(file);
    for (const [, spec] of text.matchAll(/(?:from|import\()\s*"(\.{1,2}\/[^"]+)"/g)) {
      const target = new URL(spec, `file://${file}`).pathname.slice(REPO.length + 1);
      const cli = target.startsWith("lib/cli/") && !rel.startsWith("lib/cli/") && !rel.startsWith("cmd/");
      if (cli || target.startsWith("cmd/")) wrong.push(`${rel} imports ${target}`);
    }
  }
  assert(files.length > 50, `only ${files.length} modules found`);
  assertEquals(wrong, []);
});

Deno.test("warnIfOnCommandLine: a password in a flag's URL gets a warning naming its variable (item 5)", () => {
  const pw = "Flag-Secret-42";
  const withPw = (origin: string) =>
    warnIfOnCommandLine(parseDbUrl(`postgresql://u:${pw}@h:5432/db`, origin), origin).warning;
  const db = withPw("--db-url")!;
  assert(db.startsWith("warning: the password in --db-url can be read by every user"), db);
  assert(db.includes("set $SUPABASE_DB_URL instead") && db.includes("~/.pgpass") && !db.includes(pw), db);
  assert(withPw("--target-url")!.includes("set $RESTORE_DB_URL instead"));
  const query = warnIfOnCommandLine(parseDbUrl(`postgresql://u@h/db?password=${pw}`, "--db-url"), "--db-url");
  assert(query.warning !== undefined);
  // not for a variable, a config entry, or a URL without a password
  assertEquals(withPw("$SUPABASE_DB_URL"), undefined);
  assertEquals(withPw("backup.json: databases.prod.url"), undefined);
  const bare = parseDbUrl("postgresql://u@h/db", "--db-url", { PGPASSWORD: "from-env" });
  assertEquals(warnIfOnCommandLine(bare, "--db-url").warning, undefined);
});
