/**
 * The documentation stays true to the code:
 * - every flag and variable the real CLI's `--help` prints is in docs/configuration.md, whose generated
 *   part is up to date with lib/cli/flags.ts;
 * - every error with a hint that lib/ and cmd/ can throw has an entry in docs/troubleshooting.md.
 *
 * Troubleshooting convention: for each `usageError(message, hint)` and `new BackupError(message,
 * { hint })` whose message is a string literal, the message's first literal phrase (the first run of
 * text between `${…}` parts with at least two words, trimmed of quotes and punctuation) must occur
 * in docs/troubleshooting.md (case and spacing ignored). Messages held in variables are not checked.
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { COMMANDS } from "../lib/cli/flags.ts";
import { expectedPage } from "../dev/gen_config_doc.ts";
import { listFiles, runCli } from "./support/cli.ts";
import { REPO } from "./support/paths.ts";

Deno.test("every flag and variable in each command's --help is in docs/configuration.md", async () => {
  const doc = await Deno.readTextFile(`${REPO}/docs/configuration.md`);
  const missing: string[] = [];
  let seen = 0;
  for (const command of COMMANDS) {
    const r = await runCli([command, "--help"]);
    assertEquals(r.code, 0, r.stderr);
    const flagLines = r.stdout.split("\n").filter((l) => /^\s+(-\w, )?--[a-z]/.test(l));
    ok(flagLines.length >= 3, `${command} --help lists no flags:\n${r.stdout}`);
    for (const line of flagLines) {
      const flag = /--[a-z][a-z0-9-]*/.exec(line)![0];
      seen++;
      if (!doc.includes(`\`${flag}`)) missing.push(`${command}: ${flag}`);
    }
    for (const m of r.stdout.matchAll(/env: \$([A-Z0-9_]+)/g)) {
      seen++;
      if (!doc.includes(`\`$${m[1]}\``)) missing.push(`${command}: $${m[1]}`);
    }
  }
  ok(seen > 50, `only ${seen} flags and variables found in --help`);
  assertEquals(missing, [], "missing from docs/configuration.md (run 'deno task docs')");
});

Deno.test("every 'deno task' command in README.md and docs/ runs a task with arguments it takes", async () => {
  // `deno task backup` already runs `backup.ts backup`: `deno task backup list` ran `backup.ts backup
  // list` and failed with "unexpected argument 'list'" (docs/storage.md said so for list and prune).
  const tasks: Record<string, string> = JSON.parse(await Deno.readTextFile(`${REPO}/deno.json`)).tasks;
  const pages = [
    "README.md",
    ...(await listFiles(`${REPO}/docs`)).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`),
  ];
  const bad: string[] = [];
  for (const page of pages) {
    const text = await Deno.readTextFile(`${REPO}/${page}`);
    for (const m of text.matchAll(/deno task ([\w:-]+)(?: +([^\s`|]+))?/g)) {
      const [, task, next] = m;
      if (!(task in tasks)) bad.push(`${page}: deno task ${task} (no such task)`);
      else if (
        next && /backup\.ts \w+$/.test(tasks[task]) && (COMMANDS as readonly string[]).includes(next)
      ) {
        bad.push(
          `${page}: deno task ${task} ${next} (the task runs '${
            tasks[task].split(" ").slice(-2).join(" ")
          }')`,
        );
      }
    }
  }
  assertEquals(bad, []);
});

Deno.test("the generated part of docs/configuration.md is up to date (deno task docs)", async () => {
  const { current, expected } = await expectedPage(REPO);
  ok(current === expected, "docs/configuration.md is stale: run 'deno task docs' and commit it");
});

/** One error site in the source. */
interface ErrorSite {
  file: string;
  line: number;
  /** The message as written in the source (a literal, template included). */
  message: string;
  /** The phrase that must occur in troubleshooting.md. */
  key: string;
}

/**
 * The index of the bracket that closes the one at `open` (`close` is its partner), skipping
 * strings, template literals (with nested `${…}`), comments and nested brackets.
 */
function argsEnd(src: string, open: number, close = ")"): number {
  const stack: string[] = [close];
  let i = open + 1;
  while (i < src.length && stack.length) {
    const c = src[i];
    const top = stack[stack.length - 1];
    if (top === "`") {
      if (c === "\\") i++;
      else if (c === "`") stack.pop();
      else if (c === "$" && src[i + 1] === "{") {
        stack.push("}");
        i++;
      }
    } else if (c === "'" || c === '"') {
      i++;
      while (i < src.length && src[i] !== c) i += src[i] === "\\" ? 2 : 1;
    } else if (c === "/" && src[i + 1] === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      i = src.indexOf("*/", i + 2) + 1;
    } else if (c === "`") stack.push("`");
    else if (c === "(") stack.push(")");
    else if (c === "[") stack.push("]");
    else if (c === "{") stack.push("}");
    else if (c === top) stack.pop();
    i++;
  }
  return i - 1;
}

/** Splits an argument list at its top-level commas. */
function splitArgs(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = "";
      else if (quote === "`" && c === "$" && text[i + 1] === "{") {
        i = argsEnd(text, i + 1, "}"); // skip the interpolation as a unit
      }
      continue;
    }
    if (c === "'" || c === '"' || c === "`") quote = c;
    else if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = text.slice(start).trim();
  if (last) parts.push(last);
  return parts;
}

/** The literal pieces of a string-literal argument, or undefined when it is not a literal. */
function literalPieces(arg: string): string[] | undefined {
  const q = arg[0];
  if (!(q === "'" || q === '"' || q === "`") || arg[arg.length - 1] !== q) return undefined;
  const body = arg.slice(1, -1);
  if (q !== "`") return [body];
  const pieces: string[] = [];
  let cur = "";
  for (let i = 0; i < body.length; i++) {
    if (body[i] === "\\") {
      cur += body[i + 1] ?? "";
      i++;
    } else if (body[i] === "$" && body[i + 1] === "{") {
      pieces.push(cur);
      cur = "";
      i = argsEnd(body, i + 1, "}");
    } else cur += body[i];
  }
  pieces.push(cur);
  return pieces;
}

/** The phrase of a message that troubleshooting.md must contain (see the module doc). */
export function messageKey(pieces: string[]): string | undefined {
  for (const p of pieces) {
    const t = p.replace(/^[\s'"`:,.;()\-]+|[\s'"`:,.;(\-]+$/g, "").replace(/\s+/g, " ");
    if (t.split(" ").filter((w) => /[a-z]/i.test(w)).length >= 2) return t;
  }
  return undefined;
}

/** Every error with a hint and a literal message in `files`. */
async function errorSites(files: string[]): Promise<ErrorSite[]> {
  const sites: ErrorSite[] = [];
  for (const file of files) {
    const src = await Deno.readTextFile(`${REPO}/${file}`);
    for (const m of src.matchAll(/\b(usageError|new BackupError)\(/g)) {
      const open = m.index! + m[0].length - 1;
      if (/function\s+$/.test(src.slice(Math.max(0, m.index! - 20), m.index!))) continue; // the definition
      const args = splitArgs(src.slice(open + 1, argsEnd(src, open)));
      const hasHint = m[1] === "usageError"
        ? args.length >= 2 && args[1] !== "undefined"
        : args.length >= 2 && /\bhint\b/.test(args[1]);
      if (!hasHint) continue;
      const pieces = literalPieces(args[0]);
      const key = pieces && messageKey(pieces);
      if (!key) continue;
      const line = src.slice(0, m.index!).split("\n").length;
      sites.push({ file, line, message: args[0], key });
    }
  }
  return sites;
}

function normalize(text: string): string {
  return text.toLowerCase().replace(/\s+/g, " ");
}

Deno.test("the message-key convention", () => {
  assertEquals(messageKey(["", " '", "' cannot be created: ", ""]), "cannot be created");
  assertEquals(messageKey(["unknown command '", "'"]), "unknown command");
  assertEquals(messageKey(["", " must be full or user, got '", "'"]), "must be full or user, got");
  assertEquals(messageKey(["", " ", ""]), undefined);
  assertEquals(messageKey(["host ", " has no IPv4 address"]), "has no IPv4 address");
  assertEquals(
    messageKey(["--roles: this backup has no roles file"]),
    "roles: this backup has no roles file",
  );
  assertEquals(splitArgs("`a ${f(x, y)} b`, { hint: 'h, i' }"), ["`a ${f(x, y)} b`", "{ hint: 'h, i' }"]);
  assertEquals(literalPieces("`no manifest at ${path}`"), ["no manifest at ", ""]);
  assertEquals(literalPieces("msg"), undefined);
});

Deno.test("every error with a hint in lib/ and cmd/ has an entry in docs/troubleshooting.md", async () => {
  const files = [
    ...(await listFiles(`${REPO}/lib`)).map((f) => `lib/${f}`),
    ...(await listFiles(`${REPO}/cmd`)).map((f) => `cmd/${f}`),
  ].filter((f) => f.endsWith(".ts"));
  const sites = await errorSites(files);
  ok(sites.length >= 10, `only ${sites.length} errors with hints found; is the scanner broken?`);
  const doc = normalize(await Deno.readTextFile(`${REPO}/docs/troubleshooting.md`));
  const missing = sites.filter((s) => !doc.includes(normalize(s.key)));
  const report = missing.map((s) => `  ${s.file}:${s.line}  "${s.key}"  (from ${s.message.split("\n")[0]})`);
  ok(
    missing.length === 0,
    `${missing.length} error message(s) have no entry in docs/troubleshooting.md ` +
      `(add an entry whose text contains the quoted phrase):\n${report.join("\n")}`,
  );
});
