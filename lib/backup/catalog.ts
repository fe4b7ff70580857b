/**
 * catalog.sql: pg_dump's plain schema-only script of the whole database, with its user mappings
 * cut out (their options may hold passwords). The script is read as the statement lexer
 * (lib/pg/lexer.ts) cuts it, never by lines: an entry starts at a `-- Name: …; Type: …; Schema: …;
 * Owner: …` header between statements, so a quoted name or string holding such a line stays
 * inside its statement. Pure: no I/O.
 * @module
 */
import { BackupError } from "../base/errors.ts";
import { type Piece, ScriptLexer } from "../pg/lexer.ts";
import { entryKey } from "./plan.ts";

const HEADER = /^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: (.*)\n$/;
const CUT_TYPE = "; Type: USER MAPPING; Schema: ";
const DUMP_COMPLETE = /^-- PostgreSQL database dump complete/;
const MAPPING_STATEMENT = /^\s*(?:CREATE|ALTER)\s+USER\s+MAPPING\b/i;

/** catalog.sql as it is written, and what it holds. */
export interface CutCatalog {
  /** The script without user mapping entries. */
  text: string;
  /** {@link entryKey} of every entry kept (type and tag from its header). */
  entries: Set<string>;
  /** How many user mapping entries were cut. */
  cut: number;
}

/** The entry header that starts at `pieces[0]` (`--`, `-- Name: …`, `--`), or undefined. */
function headerAt(pieces: readonly Piece[]): string | undefined {
  const [a, b, c] = pieces;
  if (a?.kind !== "comment" || a.text !== "--\n" || b?.kind !== "comment" || c?.text !== "--\n") {
    return undefined;
  }
  return b.text.startsWith("-- ") && b.text.includes("Name: ") ? b.text : undefined;
}

/**
 * Cuts every `USER MAPPING` entry out of a pg_dump plain script, whole: from its header to the
 * next header, the end-of-dump comment or a meta-command (`\unrestrict`), whichever comes first.
 * A header that names the type anywhere counts (a hostile name may make a header ambiguous: then
 * the entry is cut rather than kept). Throws a {@link BackupError} when a `CREATE` or `ALTER USER
 * MAPPING` statement is left after the cut, so that no mapping's options are ever written.
 */
export function cutUserMappings(script: string): CutCatalog {
  const cutter = new UserMappingCutter();
  const text = cutter.push(script) + cutter.end();
  return { text, entries: cutter.entries, cut: cutter.cut };
}

/**
 * {@link cutUserMappings} on a script that arrives in chunks (pg_dump's output as it is read), with
 * memory bounded by the longest statement: {@link push} returns the text to write so far. The text
 * returned has been lexed again as it will be read and checked for mapping statements: nothing
 * returned before a {@link BackupError} holds a mapping.
 */
export class UserMappingCutter {
  #lexer = new ScriptLexer();
  /** The kept text, lexed again (the check). */
  #check = new ScriptLexer();
  /** Pieces not decided yet: a header is three pieces, and the end of a cut looks one ahead. */
  #window: Piece[] = [];
  #cutting = false;
  /** {@link entryKey} of every entry kept (type and tag from its header). */
  readonly entries = new Set<string>();
  /** How many user mapping entries were cut. */
  cut = 0;

  /** Feeds the next chunk of the script; returns the kept text that is checked. */
  push(chunk: string): string {
    return this.#take(this.#lexer.push(chunk), false);
  }

  /** Ends the script; returns the rest of the kept text. */
  end(): string {
    return this.#take(this.#lexer.end(), true);
  }

  #take(pieces: Piece[], last: boolean): string {
    const kept: string[] = [];
    // concat, not push(...): a whole script in one chunk is tens of thousands of pieces
    const w = this.#window.concat(pieces);
    let i = 0;
    for (; last ? i < w.length : i + 2 < w.length; i++) this.#decide(w, i, kept);
    this.#window = w.slice(i);
    const checked = this.#check.push(kept.join("")).concat(last ? this.#check.end() : []);
    for (const p of checked) {
      if (p.kind === "statement" && MAPPING_STATEMENT.test(p.text)) {
        throw new BackupError(
          "catalog.sql would hold a user mapping outside its entry; nothing was written",
          {
            hint: "report this as a bug, with the pg_dump version; the previous backup is unchanged",
          },
        );
      }
    }
    return checked.map((p) => p.text).join("");
  }

  /** Keeps or cuts piece `i` of `w` (two pieces after it are known, or the script ended). */
  #decide(w: Piece[], i: number, kept: string[]): void {
    const p = w[i];
    const header = headerAt(w.slice(i, i + 3));
    if (header !== undefined) {
      this.#cutting = header.includes(CUT_TYPE);
      if (this.#cutting) this.cut++;
      else {
        const m = header.match(HEADER);
        if (m) this.entries.add(entryKey(m[2], m[1]));
      }
    } else if (
      this.#cutting && (p.kind === "meta" ||
        (p.text === "--\n" && DUMP_COMPLETE.test(w[i + 1]?.text ?? "")))
    ) {
      this.#cutting = false;
    }
    if (!this.#cutting) kept.push(p.text);
  }
}
