/**
 * What may reach psql in a restore, decided piece by piece as the lexer (lib/pg/lexer.ts) cuts the
 * input (a backup file, pg_restore's output for a dump, SQL the restore wrote). The session
 * (lib/restore/session.ts) runs psql under a `\restrict` key drawn fresh for it, which no backup file can
 * know, so psql refuses every meta-command (`\!`, `\o`, `\copy`, …) even one the lexer misread; and
 * here a meta-command outside COPY data fails the restore before psql sees it, except the input's own
 * `\restrict`/`\unrestrict` lines (pg_dump writes them), which are dropped. `SET transaction_timeout` is
 * dropped for servers older than 17, which reject it.
 * @module
 */
import { BackupError } from "../base/errors.ts";
import type { Piece } from "../pg/lexer.ts";

/** How one psql input is guarded. */
export interface GuardOptions {
  /** For errors: what is being restored. */
  what: string;
  /** Drop `SET transaction_timeout` (servers older than 17). */
  dropTransactionTimeout: boolean;
  /** The input's text as shown in an error (a byte-per-character input read as UTF-8). */
  shown?: (text: string) => string;
}

/** A fresh random `\restrict` key (32 hex digits). */
export function freshRestrictKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

const OWN_RESTRICT = /^\\(?:un)?restrict [A-Za-z0-9]+[ \t]*\r?\n?$/;
const TRANSACTION_TIMEOUT = /^SET transaction_timeout = [^;]*;$/;

/** Shows the start of a piece in an error, control characters escaped. */
function shown(text: string): string {
  const t = text.trim().slice(0, 40);
  return JSON.stringify(t + (text.trim().length > 40 ? "…" : ""));
}

function refused(opts: GuardOptions, piece: Piece): BackupError {
  return new BackupError(
    `${opts.what}: the input holds a psql meta-command outside COPY data (${
      shown(opts.shown ? opts.shown(piece.text) : piece.text)
    }); nothing of it was run`,
    {
      hint:
        "the backup was changed after it was written or is damaged: restore another backup, and check who can write to the backup repository",
    },
  );
}

/**
 * Decides one piece: the text to pass on ("" drops it). Throws for a meta-command other than the
 * input's own `\restrict`/`\unrestrict`.
 */
export function guardPiece(piece: Piece, opts: GuardOptions): string {
  if (piece.kind === "meta") {
    if (OWN_RESTRICT.test(piece.text)) return "";
    throw refused(opts, piece);
  }
  if (piece.kind === "statement") {
    if (piece.meta) throw refused(opts, piece);
    if (opts.dropTransactionTimeout && TRANSACTION_TIMEOUT.test(piece.text.trim())) return "";
  }
  return piece.text;
}
