/**
 * The one way text leaves the tool for a terminal or a CI log: every message, progress line,
 * error, hint and summary goes through {@link stderrLine}, {@link stderrText}, {@link stdoutLine}
 * or {@link stdoutText}. Each masks secrets ({@link redact}) and makes the text safe to show, since
 * much of it quotes names and settings from the database or a backup, which anyone who may create
 * a table can choose:
 *
 * - a control character (a line break, a carriage return, an escape sequence, a bidirectional
 *   override) is shown escaped (`\n`, `\x1b`, `\u{202e}`), so a name cannot forge a log line,
 *   rewrite the terminal or reorder what is shown;
 * - a line never starts (after white space) with `::` or `##[`, so a name cannot issue a GitHub
 *   Actions workflow command (`::add-mask::`, `::error::`, `::stop-commands::`): the first
 *   character is shown escaped instead.
 *
 * A *line* is one message: every control character in it is escaped, line breaks included. A
 * *text* is several lines a formatter built: its line breaks stay, and each line is treated as
 * above (formatters escape the names they quote with {@link escapeControl}, so the breaks left
 * are their own). JSON output needs nothing more: JSON escapes control characters itself.
 * @module
 */
import { redact } from "./redact.ts";

/**
 * Characters never printed as they are: C0 controls (line breaks and tabs included), DEL, C1
 * controls, the Unicode line and paragraph separators, bidirectional marks, embeddings, overrides
 * and isolates, and the byte order mark.
 */
// deno-lint-ignore no-control-regex
export const NON_PRINTING = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;
const CONTROL = new RegExp(NON_PRINTING.source, "g");

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * `text` with every control character escaped (`\n`, `\r`, `\t`, `\xHH`, `\u{HHHH}`), e.g. a
 * schema named `a⏎b` shown as `a\nb`. Everything else, backslashes included, stays. Pure.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.codePointAt(0)!;
    return NAMED[c] ??
      (code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`);
  });
}

/** A workflow command's start: `::` (current syntax) or `##[` (the older one), after white space. */
const WORKFLOW_COMMAND = /^(\s*)(::|##\[)/;

/** `line` with a leading `::` or `##[` shown escaped (`\x3a:`, `\x23#[`). Pure. */
function noCommand(line: string): string {
  return line.replace(
    WORKFLOW_COMMAND,
    (_m, space: string, mark: string) => `${space}${mark[0] === ":" ? "\\x3a" : "\\x23"}${mark.slice(1)}`,
  );
}

/** One message as it may be printed: masked, every control character escaped, no workflow command. Pure. */
export function safeLine(line: string): string {
  return noCommand(escapeControl(redact(line)));
}

/**
 * Several lines as they may be printed: masked; in each line control characters escaped and no
 * workflow command. Pure.
 */
export function safeText(text: string): string {
  return redact(text).split("\n").map((l) => noCommand(escapeControl(l))).join("\n");
}

/** Prints one message on stderr (progress, warning, error, hint); see the module doc. */
export function stderrLine(line: string): void {
  console.error(safeLine(line));
}

/** Prints a formatted text of several lines on stderr; see the module doc. */
export function stderrText(text: string): void {
  console.error(safeText(text));
}

/** Prints one line on stdout; see the module doc. */
export function stdoutLine(line: string): void {
  console.log(safeLine(line));
}

/** Prints a formatted text (a summary, a plan, a listing, JSON) on stdout; see the module doc. */
export function stdoutText(text: string): void {
  console.log(safeText(text));
}
