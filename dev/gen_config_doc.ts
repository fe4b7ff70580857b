/**
 * Generates the flag reference in docs/configuration.md from the FLAGS table in lib/cli/flags.ts.
 *
 * Only the text between {@link BEGIN} and {@link END} is generated; the rest of the page is written
 * by hand. `deno task docs` rewrites the page; `deno task docs --check` exits 1 when it is stale.
 * The generated markdown is passed through `deno fmt` so the page stays stable under `deno task check`.
 * @module
 */
import { COMMANDS, defaultText, EXIT_CODES, flagHelp, FLAGS, type FlagSpec } from "../lib/cli/flags.ts";

/** Marks the start of the generated part of docs/configuration.md. */
export const BEGIN = "<!-- BEGIN GENERATED: flags (deno task docs; do not edit by hand) -->";
/** Marks the end of the generated part. */
export const END = "<!-- END GENERATED: flags -->";

/** The repository-relative path of the page. */
export const DOC_PATH = "docs/configuration.md";

/** Escapes text for a markdown table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function flagCell(f: FlagSpec): string {
  const name = `${f.short ? `\`-${f.short}\`, ` : ""}\`--${f.name}${f.value ? ` ${f.value}` : ""}\``;
  return f.value ? name.replace(/\|/g, "\\|") : name;
}

/** The generated markdown (without the markers): one table per command, then every variable. */
export function renderFlagsSection(): string {
  const out: string[] = [];
  out.push("## Flags by command", "");
  out.push(
    "Every flag, its environment variable and its default, as `backup.ts <command> --help` prints them.",
  );
  for (const command of COMMANDS) {
    const flags = FLAGS.filter((f) => f.commands.includes(command));
    out.push("", `### \`${command}\``, "");
    out.push("| Flag | Environment variable | Default | Description |", "| --- | --- | --- | --- |");
    for (const f of flags) {
      const help = `${cell(flagHelp(f))}${f.multiple && !/repeatable/i.test(f.help) ? " Repeatable." : ""}`;
      out.push(`| ${flagCell(f)} | ${f.env ? `\`$${f.env}\`` : ""} | ${cell(defaultText(f))} | ${help} |`);
    }
  }
  out.push("", "## Environment variables of flags", "");
  out.push("A flag given on the command line wins over its variable.", "");
  out.push("| Variable | Flag | Commands |", "| --- | --- | --- |");
  for (const f of [...FLAGS].filter((f) => f.env).sort((a, b) => a.env!.localeCompare(b.env!))) {
    out.push(`| \`$${f.env}\` | \`--${f.name}\` | ${f.commands.join(", ")} |`);
  }
  out.push("", "## Exit codes", "");
  out.push("| Code | Meaning |", "| --- | --- |");
  for (const [code, text] of EXIT_CODES) out.push(`| ${code} | ${cell(text)} |`);
  return out.join("\n") + "\n";
}

/**
 * Puts `generated` between the markers of `page`. Throws when the page lacks either marker, since
 * the hand-written parts around them must not be lost.
 */
export function spliceGenerated(page: string, generated: string): string {
  const b = page.indexOf(BEGIN);
  const e = page.indexOf(END);
  if (b < 0 || e < b) {
    throw new Error(`${DOC_PATH} must contain the markers '${BEGIN}' and '${END}' in order`);
  }
  return `${page.slice(0, b + BEGIN.length)}\n\n${generated.trim()}\n\n${page.slice(e)}`;
}

/** Formats markdown with `deno fmt` using the repository's settings (run from `repo`). */
export async function formatMarkdown(markdown: string, repo: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
    cwd: repo,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(markdown));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(`deno fmt failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  return new TextDecoder().decode(out.stdout);
}

/** The page as `deno task docs` would write it, from the current page and FLAGS. */
export async function expectedPage(repo: string): Promise<{ current: string; expected: string }> {
  const current = await Deno.readTextFile(`${repo}/${DOC_PATH}`);
  const expected = await formatMarkdown(spliceGenerated(current, renderFlagsSection()), repo);
  return { current, expected };
}

if (import.meta.main) {
  const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const { current, expected } = await expectedPage(repo);
  if (Deno.args.includes("--check")) {
    if (current !== expected) {
      console.error(`${DOC_PATH} is out of date with lib/cli/flags.ts; run 'deno task docs'`);
      Deno.exit(1);
    }
    console.error(`${DOC_PATH} is up to date`);
  } else if (current !== expected) {
    await Deno.writeTextFile(`${repo}/${DOC_PATH}`, expected);
    console.error(`wrote ${DOC_PATH}`);
  } else {
    console.error(`${DOC_PATH} is up to date`);
  }
}
