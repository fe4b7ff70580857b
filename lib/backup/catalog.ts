/**
 * catalog.sql: pg_dump's plain schema-only script of the whole database, with its user mappings
 * cut out (their options may hold passwords). The script is read as the statement lexer
 * (lib/pg/lexer.ts) cuts it, never by lines: an entry starts at a `-- Name: …; Type: …; Schema: …;
 * Owner: …` header between statements, so a quoted name or string holding such a line stays
 * inside its statement. Pure: no I/O.
 * @module
 */
import { BackupError } from "../base/errors.ts";
import { lexScript, type Piece } from "../pg/lexer.ts";
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

/** The entry header that starts at piece `i` (`--`, `-- Name: …`, `--`), or undefined. */
function headerAt(pieces: readonly Piece[], i: number): string | undefined {
  const [a, b, c] = [pieces[i], pieces[i + 1], pieces[i + 2]];
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
  const pieces = lexScript(script);
  const kept: string[] = [];
  const entries = new Set<string>();
  let cutting = false;
  let cut = 0;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i];
    const header = headerAt(pieces, i);
    if (header !== undefined) {
      cutting = header.includes(CUT_TYPE);
      if (cutting) cut++;
      else {
        const m = header.match(HEADER);
        if (m) entries.add(entryKey(m[2], m[1]));
      }
    } else if (
      cutting && (p.kind === "meta" ||
        (p.text === "--\n" && DUMP_COMPLETE.test(pieces[i + 1]?.text ?? "")))
    ) {
      cutting = false;
    }
    if (!cutting) kept.push(p.text);
  }
  const text = kept.join("");
  for (const p of lexScript(text)) {
    if (p.kind === "statement" && MAPPING_STATEMENT.test(p.text)) {
      throw new BackupError("catalog.sql would hold a user mapping outside its entry; nothing was written", {
        hint: "report this as a bug, with the pg_dump version; the previous backup is unchanged",
      });
    }
  }
  return { text, entries, cut };
}
