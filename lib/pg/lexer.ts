/**
 * SQL scripts as psql reads them, cut into whole pieces: statements (ending at a `;` outside quotes,
 * dollar quotes and comments), comments between statements, psql meta-commands (a backslash outside
 * any quote), and the data lines of a `COPY … FROM stdin`. Every decision the restore takes about a
 * script is taken on these pieces, never on physical lines: a quoted name or a setting may hold
 * newlines, semicolons and `--`, and stays inside its statement here.
 *
 * The lexer streams: {@link ScriptLexer.push} takes text in chunks of any size and returns the pieces
 * completed so far; statements are held until their `;`, COPY data is passed on as it arrives (a data
 * piece may end inside a line, whatever the length of a value; only a line end that may still be the
 * `\.` line waits for the next chunk). Joining the texts of all pieces gives back the input exactly.
 * Pure: no I/O.
 * @module
 */

/** One piece of a script. */
export interface Piece {
  /**
   * `statement`: SQL up to and including its `;` (and the rest of that line for a COPY FROM stdin);
   * `comment`: a `--` comment line between statements; `meta`: a psql meta-command line between
   * statements; `data`: COPY data lines (the `\.` line included in the last); `space`: blank text
   * between pieces.
   */
  kind: "statement" | "comment" | "meta" | "data" | "space";
  text: string;
  /** A statement holds a backslash outside quotes (psql would run it as a meta-command). */
  meta?: boolean;
  /** A statement that the input ended before its `;`, or COPY data that it ended before the `\.` line. */
  unterminated?: boolean;
}

const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;
const COPY_FROM_STDIN = /^COPY\s[\s\S]*\sFROM\s+stdin\s*;$/i;

type Mode =
  | { kind: "between" }
  | { kind: "statement"; meta: boolean }
  | { kind: "single"; escapes: boolean; meta: boolean }
  | { kind: "double"; meta: boolean }
  | { kind: "dollar"; tag: string; meta: boolean }
  | { kind: "line-comment"; meta: boolean }
  | { kind: "block-comment"; depth: number; meta: boolean }
  /** `midLine`: the current data line began in an earlier chunk (so it is not `\.`). */
  | { kind: "copy"; midLine?: boolean };

/** Whether the rest of `b` from `i` (no newline in it) may still become a `\.` (or `\.\r`) line. */
function mayEndCopy(b: string, i: number): boolean {
  const n = b.length - i;
  return n <= 3 && b.charCodeAt(i) === 92 && (n < 2 || b.charCodeAt(i + 1) === 46) &&
    (n < 3 || b.charCodeAt(i + 2) === 13);
}

/** A streaming lexer for psql input; see the module comment. */
export class ScriptLexer {
  #buf = "";
  /** Where scanning resumes in #buf; #buf[0..#start) is already emitted. */
  #pos = 0;
  #start = 0;
  #mode: Mode = { kind: "between" };

  /** Feeds `chunk`; returns the pieces completed by it. */
  push(chunk: string): Piece[] {
    this.#buf = this.#buf.slice(this.#start) + chunk;
    this.#pos -= this.#start;
    this.#start = 0;
    const out: Piece[] = [];
    this.#scan(out, false);
    return out;
  }

  /** Ends the input; returns the last pieces (an unfinished statement is marked `unterminated`). */
  end(): Piece[] {
    const out: Piece[] = [];
    this.#scan(out, true);
    const rest = this.#buf.slice(this.#start);
    if (rest) {
      const m = this.#mode;
      if (m.kind === "copy") out.push({ kind: "data", text: rest, unterminated: true });
      else if (m.kind === "between") {
        out.push(
          /\S/.test(rest)
            ? { kind: "statement", text: rest, unterminated: true }
            : { kind: "space", text: rest },
        );
      } else out.push({ kind: "statement", text: rest, meta: "meta" in m && m.meta, unterminated: true });
    } else if (this.#mode.kind === "copy") out.push({ kind: "data", text: "", unterminated: true });
    this.#buf = "";
    this.#pos = this.#start = 0;
    this.#mode = { kind: "between" };
    return out;
  }

  #emit(out: Piece[], piece: Omit<Piece, "text">, end: number): void {
    const text = this.#buf.slice(this.#start, end);
    this.#start = end;
    if (text) out.push({ ...piece, text });
  }

  #scan(out: Piece[], final: boolean): void {
    const b = this.#buf;
    let i = this.#pos;
    const need = (n: number) => i + n > b.length && !final;
    while (i < b.length) {
      const m = this.#mode;
      const c = b[i];
      if (m.kind === "copy") {
        // Data lines until a line that is exactly `\.`.
        const nl = b.indexOf("\n", i);
        if (m.midLine) {
          i = nl < 0 ? b.length : nl + 1;
          if (nl >= 0) this.#mode = { kind: "copy" };
          if (nl < 0 || i - this.#start > 1 << 16) this.#emit(out, { kind: "data" }, i);
          continue;
        }
        if (nl < 0) {
          if (final) i = b.length;
          else if (!mayEndCopy(b, i)) {
            // A line the chunk ends inside: passed on now (each byte is looked at once, whatever
            // the length of a value), unless it may still become the `\.` line.
            i = b.length;
            this.#emit(out, { kind: "data" }, i);
            this.#mode = { kind: "copy", midLine: true };
          }
          break;
        }
        const len = nl - i;
        const end = b.charCodeAt(i) === 92 && b.charCodeAt(i + 1) === 46 &&
          (len === 2 || (len === 3 && b.charCodeAt(i + 2) === 13));
        i = nl + 1;
        if (end) {
          this.#emit(out, { kind: "data" }, i);
          this.#mode = { kind: "between" };
        } else if (i - this.#start > 1 << 16) this.#emit(out, { kind: "data" }, i);
        continue;
      }
      if (m.kind === "between") {
        if (c === " " || c === "\t" || c === "\n" || c === "\r") {
          i++;
          continue;
        }
        if (i > this.#start) this.#emit(out, { kind: "space" }, i);
        if (c === "-" && need(2)) break;
        if (c === "-" && b[i + 1] === "-") {
          const nl = b.indexOf("\n", i);
          if (nl < 0 && !final) break;
          i = nl < 0 ? b.length : nl + 1;
          this.#emit(out, { kind: "comment" }, i);
          continue;
        }
        if (c === "\\") {
          const nl = b.indexOf("\n", i);
          if (nl < 0 && !final) break;
          i = nl < 0 ? b.length : nl + 1;
          this.#emit(out, { kind: "meta" }, i);
          continue;
        }
        this.#mode = { kind: "statement", meta: false };
        continue;
      }
      if (m.kind === "single") {
        if (c === "\\" && m.escapes) {
          if (need(2)) break;
          i += 2;
          continue;
        }
        if (c === "'") {
          if (need(2)) break;
          if (b[i + 1] === "'") {
            i += 2;
            continue;
          }
          this.#mode = { kind: "statement", meta: m.meta };
        }
        i++;
        continue;
      }
      if (m.kind === "double") {
        if (c === '"') {
          if (need(2)) break;
          if (b[i + 1] === '"') {
            i += 2;
            continue;
          }
          this.#mode = { kind: "statement", meta: m.meta };
        }
        i++;
        continue;
      }
      if (m.kind === "dollar") {
        const close = b.indexOf(m.tag, i);
        if (close < 0) {
          // Keep the tail that may be the start of the closing tag.
          i = final ? b.length : Math.max(i, b.length - m.tag.length + 1);
          break;
        }
        i = close + m.tag.length;
        this.#mode = { kind: "statement", meta: m.meta };
        continue;
      }
      if (m.kind === "line-comment") {
        const nl = b.indexOf("\n", i);
        if (nl < 0) {
          i = b.length;
          break;
        }
        i = nl + 1;
        this.#mode = { kind: "statement", meta: m.meta };
        continue;
      }
      if (m.kind === "block-comment") {
        if ((c === "*" || c === "/") && need(2)) break;
        if (c === "*" && b[i + 1] === "/") {
          i += 2;
          this.#mode = m.depth > 1
            ? { kind: "block-comment", depth: m.depth - 1, meta: m.meta }
            : { kind: "statement", meta: m.meta };
          continue;
        }
        if (c === "/" && b[i + 1] === "*") {
          i += 2;
          this.#mode = { kind: "block-comment", depth: m.depth + 1, meta: m.meta };
          continue;
        }
        i++;
        continue;
      }
      // Inside a statement, outside quotes.
      const prev = i > this.#start ? b[i - 1] : "";
      if (c === ";") {
        i++;
        const text = b.slice(this.#start, i);
        if (COPY_FROM_STDIN.test(text.trim())) {
          // The data starts on the next line.
          const nl = b.indexOf("\n", i);
          if (nl < 0 && !final) {
            // Wait for the end of the line: the next push scans the statement again, whole.
            this.#mode = { kind: "between" };
            this.#pos = this.#start;
            return;
          }
          i = nl < 0 ? b.length : nl + 1;
          this.#emit(out, { kind: "statement", meta: m.meta || undefined }, i);
          this.#mode = { kind: "copy" };
        } else {
          this.#emit(out, { kind: "statement", meta: m.meta || undefined }, i);
          this.#mode = { kind: "between" };
        }
        continue;
      }
      if (c === "'") {
        const escapes = (prev === "E" || prev === "e") &&
          !IDENT_CHAR.test(i - 2 >= this.#start ? b[i - 2] : "");
        this.#mode = { kind: "single", escapes, meta: m.meta };
        i++;
        continue;
      }
      if (c === '"') {
        this.#mode = { kind: "double", meta: m.meta };
        i++;
        continue;
      }
      if (c === "$" && !IDENT_CHAR.test(prev)) {
        const rest = b.slice(i, i + 256);
        const tag = rest.match(DOLLAR_TAG)?.[0];
        if (!tag && !final && rest.length < 256 && /^\$[A-Za-z0-9_\u0080-\uffff]*$/.test(rest)) break;
        if (tag) {
          this.#mode = { kind: "dollar", tag, meta: m.meta };
          i += tag.length;
          continue;
        }
      }
      if (c === "-" || c === "/") {
        if (need(2)) break;
        if (c === "-" && b[i + 1] === "-") {
          this.#mode = { kind: "line-comment", meta: m.meta };
          i += 2;
          continue;
        }
        if (c === "/" && b[i + 1] === "*") {
          this.#mode = { kind: "block-comment", depth: 1, meta: m.meta };
          i += 2;
          continue;
        }
      }
      if (c === "\\") this.#mode = { kind: "statement", meta: true };
      i++;
    }
    this.#pos = i;
  }
}

/** All pieces of a whole script. */
export function lexScript(text: string): Piece[] {
  const lexer = new ScriptLexer();
  return [...lexer.push(text), ...lexer.end()];
}

/** The text of pieces, joined. */
export function piecesText(pieces: readonly Piece[]): string {
  return pieces.map((p) => p.text).join("");
}
