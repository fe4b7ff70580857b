/**
 * One restore, one psql session, one transaction. Every step of a restore appends its SQL to the same
 * psql input: roles, extensions, definitions, rows, indexes and foreign keys run in one transaction,
 * committed only after the last step; any failure (an SQL error, a refused or damaged input, a program
 * that dies, an interrupt, the tool being killed) leaves the target as it was.
 *
 * A statement may be rewritten after the guard passed it (`--into`, lib/restore/into.ts).
 *
 * Each appended input passes the guard (lib/restore/guard.ts), piece by piece as the lexer cuts it; psql
 * runs under a `\restrict` key drawn for this session, so no input can run a meta-command. An input must
 * end where a statement ends: one that stops inside a statement or inside COPY data is refused, so that
 * it can never swallow what comes after it (the next input, or the COMMIT).
 *
 * A backup file or pg_restore's output passes byte for byte in the encoding pg_dump wrote it in
 * (lib/pg/inputtext.ts): strictly as UTF-8 when it says UTF8, else one character per byte, so that a
 * `SQL_ASCII` database's bytes that are not UTF-8 and a `LATIN1` database's text reach the server as
 * they were dumped. A statement a step rewrites is read as UTF-8 for that.
 * @module
 */
import { BackupError } from "../base/errors.ts";
import { interruption, throwIfInterrupted } from "../base/interrupt.ts";
import { type Ended, programFailure, runProgram } from "../base/proc.ts";
import { pgProgram } from "../pg/run.ts";
import { type Piece, ScriptLexer } from "../pg/lexer.ts";
import { freshRestrictKey, type GuardOptions, guardPiece } from "./guard.ts";
import { copyStatement, cutRows, keptFields, parseCopyHeader } from "../pg/copy.ts";
import { bytesText, InputText, latin1Bytes, refuseClientOnly, utf8Text } from "../pg/inputtext.ts";

/** Where the rows of a COPY go instead: only these columns (by name), into this table (an SQL name). */
export interface CopyTarget {
  columns?: readonly string[];
  table?: string;
}

/** How a session reaches psql. */
export interface SessionOptions {
  psql: string;
  /** libpq environment of the target (PGHOST, PGUSER, PGPASSWORD, PGOPTIONS, …). */
  env: Record<string, string>;
  /** The server's major version; a promise when psql starts before the target is read. */
  serverMajor: number | Promise<number>;
  /** Progress lines. */
  log: (line: string) => void;
  /**
   * A hint for psql's error output that knows better than the step's own (undefined: the step's).
   * Asked only when psql failed, so it may read the backup (a failure costs nothing on success).
   */
  explain?: (stderr: string) => Promise<string | undefined> | string | undefined;
}

/** Where each input starts in psql's input, to name the step an error line points at. */
interface Mark {
  line: number;
  what: string;
  hint?: string;
}

const enc = new TextEncoder();

/** A psql session holding the restore's one transaction. */
export class Session {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #done: Promise<{ end?: Ended; error?: unknown }>;
  #opts: SessionOptions;
  #program: ReturnType<typeof pgProgram>;
  #lines = 0;
  #marks: Mark[] = [];
  #closed = false;
  #ended = false;
  /** The session's client_encoding: UTF8 (PGCLIENTENCODING), until a byte input names its own. */
  #encoding = "UTF8";
  /** stderr lines of psql other than the error (warnings), after {@link commit}. */
  warnings: string[] = [];

  private constructor(opts: SessionOptions) {
    this.#opts = opts;
    const pipe = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 4 });
    this.#writer = pipe.writable.getWriter();
    this.#program = pgProgram({
      path: opts.psql,
      args: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
      // Text is sent as UTF-8 (see run); a byte input names its own encoding.
      env: { ...opts.env, PGCLIENTENCODING: "UTF8" },
      what: "restore",
      stdin: pipe.readable,
    }, "null");
    this.#done = runProgram(this.#program).then((end) => ({ end }), (error) => ({ error }))
      .finally(() => {
        this.#ended = true;
      });
  }

  /** Whether psql has ended (it could not connect, or it failed): nothing more can run in it. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Starts psql and opens the transaction. */
  static async open(opts: SessionOptions): Promise<Session> {
    throwIfInterrupted();
    const s = new Session(opts);
    await s.#write(`\\restrict ${freshRestrictKey()}\nBEGIN;\n`, "opening the transaction");
    return s;
  }

  /** Writes `text`: one byte per character when `bytes` (lib/pg/inputtext.ts), else UTF-8. */
  async #write(text: string, what: string, hint?: string, bytes = false): Promise<void> {
    if (!text) return;
    this.#marks.push({ line: this.#lines + 1, what, hint });
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) this.#lines++;
    try {
      await this.#writer.write(bytes ? latin1Bytes(text) : enc.encode(text));
    } catch {
      // psql stopped reading: it ended (an SQL error); its status says why.
      throw await this.#failure();
    }
  }

  /** The error psql ended with, naming the step its error line points at. */
  async #failure(): Promise<unknown> {
    const r = await this.#done;
    const stopped = interruption();
    if (stopped) return stopped;
    if (r.error) return r.error;
    const end = r.end!;
    const at = end.stderr.match(/^psql:[^\n]*?:(\d+): (?:ERROR|FATAL)/m);
    const line = at ? Number(at[1]) : undefined;
    const mark = line === undefined ? undefined : [...this.#marks].reverse().find((m) => m.line <= line);
    const what = mark ? mark.what : "restore";
    const e = programFailure({ ...this.#program, what }, end);
    return new BackupError(
      `${e.message}; nothing was changed (the restore runs in one transaction)`,
      { hint: (await this.#explain(end.stderr)) ?? mark?.hint ?? e.hint, cause: e.cause },
    );
  }

  /** {@link SessionOptions.explain}'s hint; a failure to find one is no hint (the error stays psql's). */
  async #explain(stderr: string): Promise<string | undefined> {
    try {
      return await this.#opts.explain?.(stderr);
    } catch {
      return undefined;
    }
  }

  /**
   * Appends one input (SQL text, a backup file, pg_restore's output) under the guard. `what` names it
   * in errors. Throws the guard's refusal, the input's own error, or psql's failure; the session is
   * then unusable and must be {@link abort}ed.
   */
  async run(
    input: string | Uint8Array | ReadableStream<Uint8Array>,
    what: string,
    opts: { hint?: string; copy?: CopyTarget; statement?: (text: string) => string } = {},
  ): Promise<void> {
    throwIfInterrupted();
    // Bytes are read in the encoding the input names (UTF-8, or one character per byte), known from its
    // first chunks on; a statement rewritten below is read as UTF-8.
    const decoder = typeof input === "string" ? undefined : new InputText(what);
    const bytes = () => decoder?.bytes ?? false;
    const read = (t: string) => bytes() ? utf8Text(t) : t;
    const back = (t: string) => bytes() ? bytesText(t) : t;
    const guard: GuardOptions = {
      what,
      dropTransactionTimeout: (await this.#opts.serverMajor) < 17,
      shown: read,
    };
    // Text (a string, or bytes read as UTF-8) goes as UTF-8: the session is switched back to UTF8 first
    // when a byte input before left it in its own encoding.
    let started = false;
    const head = (): string => {
      if (started) return "";
      started = true;
      if (bytes() || this.#encoding === "UTF8") return "";
      this.#encoding = "UTF8";
      return "SET client_encoding = 'UTF8';\n";
    };
    const lx = new ScriptLexer();
    let last: Piece | undefined;
    let kept: boolean[] | undefined;
    const batch = new Batcher();
    const one = (p: Piece): string => batch.push(p.kind, piece(p));
    const piece = (p: Piece): string => {
      let text = guardPiece(p, guard);
      // A whole statement the guard let through, rewritten (restore --into: the new table's names).
      if (opts.statement && p.kind === "statement" && text) text = back(opts.statement(read(text)));
      if (p.kind === "statement" && text) text = this.#clientEncoding(text, bytes(), what);
      if (p.kind !== "space" && p.kind !== "comment") last = p;
      if (!opts.copy) return text;
      if (p.kind === "statement") {
        const h = parseCopyHeader(read(text));
        if (!h) return text;
        const cols = opts.copy.columns ?? h.columns;
        kept = keptFields(h, cols);
        return back(copyStatement(h, cols, opts.copy.table)) + "\n";
      }
      return p.kind === "data" && kept ? cutRows(text, kept) : text;
    };
    const pass = async (pieces: Piece[]) => {
      // Pieces come only once the decoder chose how to read the input (bytes() is then known).
      let text = pieces.length > 0 ? head() : "";
      for (const p of pieces) text += one(p);
      await this.#write(text, what, opts.hint, bytes());
    };
    if (typeof input === "string" || input instanceof Uint8Array) {
      const text = typeof input === "string" ? input : decoder!.push(input) + decoder!.end();
      // Whole texts are checked before any of it is written.
      const pieces = [...lx.push(text), ...lx.end()];
      let out = head();
      for (const p of pieces) out += one(p);
      endsWell(last, guard);
      await this.#write(out + batch.end() + "\n", what, opts.hint, bytes());
      return;
    }
    const reader = input.getReader();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      await pass(lx.push(decoder!.push(r.value)));
    }
    await pass([...lx.push(decoder!.end()), ...lx.end()]);
    endsWell(last, guard);
    await this.#write(batch.end() + "\n", what, undefined, bytes());
  }

  /**
   * A `SET client_encoding` statement as it may run: in a byte input it stays (the bytes are in that
   * encoding, and the session follows it); in text, which is sent as UTF-8, it becomes UTF8.
   */
  #clientEncoding(statement: string, bytes: boolean, what: string): string {
    const m = CLIENT_ENCODING.exec(statement.trim());
    if (!m) return statement;
    refuseClientOnly(m[1], what);
    if (bytes) {
      this.#encoding = m[1].toUpperCase();
      return statement;
    }
    this.#encoding = "UTF8";
    return "SET client_encoding = 'UTF8';";
  }

  /** Commits the transaction and waits for psql to end. Throws psql's failure (nothing committed). */
  async commit(): Promise<void> {
    await this.#write("COMMIT;\n", "committing");
    this.#closed = true;
    await this.#writer.close().catch(() => {});
    const r = await this.#done;
    if (r.error || r.end!.code !== 0) throw await this.#failure();
    this.warnings = r.end!.stderr.split("\n").map((l) => l.replace(/^psql:[^\n]*?:\d+: /, "").trim())
      .filter((l) => l !== "");
  }

  /** Ends the session without committing: psql is stopped, the server rolls the transaction back. */
  async abort(reason: unknown): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Aborting psql's input makes the runner kill it before its stdin closes: no COMMIT can follow.
    await this.#writer.abort(reason).catch(() => {});
    await this.#done;
  }
}

/** A `SET client_encoding` statement (as pg_dump writes it, or in any case and spacing). */
const CLIENT_ENCODING = /^SET\s+client_encoding\s*(?:=|TO)\s*'([^']*)'\s*;$/i;

/** First words of the statements that may go to the server in one query with their neighbours. */
const BATCHED = /^(?:CREATE|ALTER|COMMENT|GRANT|REVOKE|SELECT)\s/i;
/** Settings that change how the server reads the statements after them in the same query. */
const PARSER_SETTINGS = /standard_conforming_strings|backslash_quote/i;
/** Statements at most in one query. */
export const BATCH_LIMIT = 100;

/** Whether a statement (as the guard passed it) may share one query with its neighbours. */
export function batchable(text: string): boolean {
  return text.endsWith(";") && BATCHED.test(text) && !PARSER_SETTINGS.test(text);
}

/**
 * Groups statements into fewer queries: psql sends a query at each `;` and waits for its result, a
 * round trip per statement (about 1,500 for 200 tables). Between two statements that may share a query
 * ({@link batchable}), the first one's `;` becomes `\;`, which psql puts into the query as `;` without
 * sending it, so the server gets the same text in fewer queries (at most {@link BATCH_LIMIT} statements
 * each). A statement is held until the next one shows whether it ends its query; {@link end} gives it
 * back with its own `;` (each input ends with a query sent). Pure.
 */
export class Batcher {
  /** A held statement without its `;`, and the spaces and comments after it. */
  #held?: { body: string; rest: string };
  #count = 0;

  /** Text to pass on for one piece (as the guard passed it; "" for a piece it dropped). */
  push(kind: Piece["kind"], text: string): string {
    if (!text) return "";
    if (kind !== "statement") {
      if (!this.#held) return text;
      this.#held.rest += text;
      return "";
    }
    const joins = batchable(text);
    const out = this.#release(joins && this.#count + 1 < BATCH_LIMIT);
    if (!joins) return out + text;
    this.#held = { body: text.slice(0, -1), rest: "" };
    return out;
  }

  /** The held statement, ended with `;`: the text still to pass on at the end of an input. */
  end(): string {
    return this.#release(false);
  }

  #release(join: boolean): string {
    const h = this.#held;
    if (!h) return "";
    this.#held = undefined;
    this.#count = join ? this.#count + 1 : 0;
    return h.body + (join ? "\\;" : ";") + h.rest;
  }
}

/** Refuses an input that ends inside a statement or inside COPY data (it would swallow what follows). */
function endsWell(last: Piece | undefined, guard: GuardOptions): void {
  if (!last?.unterminated) return;
  throw new BackupError(
    `${guard.what}: the input ends inside ${
      last.kind === "data" ? "COPY data (no \\. line)" : "a statement"
    }; nothing of it was run`,
    {
      hint:
        "the backup file is cut short or was changed: run verify, restore another backup, and check who can write to the backup repository",
    },
  );
}
