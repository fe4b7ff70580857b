/**
 * The one way SQL reaches psql in a restore. Whatever the input (a backup file, pg_restore's output for a
 * dump, SQL the restore wrote), it is cut into whole pieces by the lexer (lib/pg/lexer.ts) and:
 * - psql runs under a `\restrict` key drawn fresh for every run, which no backup file can know, so psql
 *   refuses every meta-command (`\!`, `\o`, `\copy`, …) in it, even one the lexer misread;
 * - a meta-command the lexer finds outside COPY data fails the restore before psql sees it, except the
 *   input's own `\restrict`/`\unrestrict` lines (pg_dump writes them), which are dropped;
 * - `SET transaction_timeout` is dropped for servers older than 17, which reject it;
 * - the input runs in one transaction whose `COMMIT` is written only after the whole input was read and
 *   passed: if the input fails or the tool dies halfway, psql reaches the end of its input inside the
 *   transaction and the server rolls it back.
 * @module
 */
import { BackupError } from "../base/errors.ts";
import { type Piece, ScriptLexer } from "../pg/lexer.ts";

/** How one psql input is guarded. */
export interface GuardOptions {
  /** For errors: what is being restored. */
  what: string;
  /** Drop `SET transaction_timeout` (servers older than 17). */
  dropTransactionTimeout: boolean;
  /** The key psql is restricted with (tests pass one; else a fresh random key). */
  key?: string;
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
      shown(piece.text)
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

/** What psql reads first: the fresh restriction, then BEGIN. */
function head(key: string): string {
  return `\\restrict ${key}\nBEGIN;\n`;
}

const TAIL = "\nCOMMIT;\n";

/** All of `text`, guarded (throws before anything runs when a piece is refused). */
export function guardText(text: string, opts: GuardOptions): string {
  const key = opts.key ?? freshRestrictKey();
  const lx = new ScriptLexer();
  const out = [head(key)];
  for (const p of [...lx.push(text), ...lx.end()]) out.push(guardPiece(p, opts));
  out.push(TAIL);
  return out.join("");
}

/**
 * `input` guarded as a stream (for data files and pg_restore output of any size). A refused piece
 * errors the stream; `COMMIT` is written only at its end.
 */
export function guardStream(
  input: ReadableStream<Uint8Array>,
  opts: GuardOptions,
): ReadableStream<Uint8Array> {
  const key = opts.key ?? freshRestrictKey();
  const lx = new ScriptLexer();
  const pass = (pieces: Piece[], c: TransformStreamDefaultController<string>) => {
    let text = "";
    for (const p of pieces) text += guardPiece(p, opts);
    if (text) c.enqueue(text);
  };
  return input.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, string>({
      start(c) {
        c.enqueue(head(key));
      },
      transform(chunk, c) {
        pass(lx.push(chunk), c);
      },
      flush(c) {
        pass(lx.end(), c);
        c.enqueue(TAIL);
      },
    }),
  ).pipeThrough(new TextEncoderStream());
}
