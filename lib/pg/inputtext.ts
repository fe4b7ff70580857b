/**
 * The text of a psql input read from bytes (a backup file, pg_restore's output), so that it reaches psql
 * byte for byte in whatever encoding pg_dump wrote it. pg_dump names that encoding near the top
 * (`SET client_encoding = 'UTF8';`). An input that says UTF8 is decoded as UTF-8, strictly: a byte
 * sequence that is not UTF-8 is an error, never replaced. Any other input (`SQL_ASCII`, `LATIN1`, none
 * named) is read as one character per byte (latin1, which maps every byte to itself) and written back
 * the same way. Either way the lexer and the guard see the ASCII they act on unchanged: in every server
 * encoding a byte below 0x80 is that ASCII character. The choice only decides how the bytes are carried;
 * a file that names the wrong encoding is refused or passed exactly, never changed. Pure.
 * @module
 */
import { Buffer } from "node:buffer";
import { BackupError } from "../base/errors.ts";

/** How far into the input its encoding is looked for (pg_dump writes it within the first 500 bytes). */
export const ENCODING_WINDOW = 4096;

const DECLARED = /^SET client_encoding = '([A-Za-z0-9_]+)';\r?$/m;
const ascii = new TextDecoder("ascii");
const utf8Encoder = new TextEncoder();

/** Decodes one input's chunks into text; {@link bytes} says how it must be written back. */
export class InputText {
  #what: string;
  #head: Uint8Array[] = [];
  #headLength = 0;
  #utf8?: TextDecoder;
  #decided = false;
  /** The input is read one character per byte (its text goes back through {@link latin1Bytes}). */
  bytes = false;

  /** `what` names the input in an error. */
  constructor(what: string) {
    this.#what = what;
  }

  /** Text of the next chunk ("" while the encoding is still looked for). Throws on bytes that are not UTF-8. */
  push(chunk: Uint8Array): string {
    if (this.#decided) return this.#decode(chunk, true);
    this.#head.push(chunk);
    this.#headLength += chunk.length;
    return this.#headLength >= ENCODING_WINDOW ? this.#decide(true) : "";
  }

  /** The rest of the text, at the end of the input. */
  end(): string {
    return this.#decided ? this.#decode(new Uint8Array(0), false) : this.#decide(false);
  }

  #decide(more: boolean): string {
    const head = new Uint8Array(this.#headLength);
    let at = 0;
    for (const c of this.#head) {
      head.set(c, at);
      at += c.length;
    }
    this.#head = [];
    this.#decided = true;
    const named = namedEncoding(head);
    if (named !== undefined) refuseClientOnly(named, this.#what);
    this.bytes = named !== "UTF8";
    if (!this.bytes) this.#utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    return this.#decode(head, more);
  }

  #decode(chunk: Uint8Array, more: boolean): string {
    if (this.bytes) return latin1Text(chunk);
    try {
      return this.#utf8!.decode(chunk, { stream: more });
    } catch {
      throw notUtf8(this.#what);
    }
  }
}

/**
 * Encodings a server never has (pg_dump writes them only when asked to): a second byte of theirs may be
 * `\\`, so psql would cut their text into statements elsewhere than the guard does. Names as PostgreSQL
 * matches them (letters and digits, any case).
 */
const CLIENT_ONLY = new Set([
  "SJIS",
  "SHIFTJIS",
  "MSKANJI",
  "WIN932",
  "SHIFTJIS2004",
  "BIG5",
  "WIN950",
  "GBK",
  "WIN936",
  "CP936",
  "UHC",
  "WIN949",
  "CP949",
  "GB18030",
  "JOHAB",
]);

/** Throws when `named` (an input's `SET client_encoding`) is a client-only encoding. */
export function refuseClientOnly(named: string, what: string): void {
  if (!CLIENT_ONLY.has(named.toUpperCase().replace(/[^A-Z0-9]/g, ""))) return;
  throw new BackupError(
    `${what}: the input names the client encoding ${named}, which no backup is written in; nothing of it was run`,
    {
      hint:
        "the backup file was changed: run verify, restore another backup, and check who can write to the backup repository",
    },
  );
}

function notUtf8(what: string): BackupError {
  return new BackupError(
    `${what}: the input says its encoding is UTF8 but holds bytes that are not UTF-8; nothing of it was run`,
    {
      hint:
        "the backup file is damaged or was changed: run verify, restore another backup, and check who can write to the backup repository",
    },
  );
}

/** The encoding an input names near its top (`SET client_encoding = '…';`), upper-cased; undefined for none. */
export function namedEncoding(head: Uint8Array): string | undefined {
  return DECLARED.exec(ascii.decode(head.subarray(0, ENCODING_WINDOW)))?.[1].toUpperCase();
}

/**
 * A script's text as Unicode (definitions: pg_restore's pre-data and post-data, schema.sql, catalog.sql,
 * roles.sql): the restore matches its statements by name and sends them as UTF-8, with the session's
 * client_encoding UTF8 (lib/restore/session.ts), so the server converts them to the target's encoding.
 * A LATIN1 script is read by code point (its 256 characters are Unicode's first 256); every other one as
 * UTF-8, strictly: a `SQL_ASCII` database's definitions may hold ASCII and UTF-8 only. Bytes that cannot
 * be read so are refused, never replaced.
 */
export function scriptText(bytes: Uint8Array, what: string): string {
  const named = namedEncoding(bytes);
  if (named === "LATIN1") return latin1Text(bytes);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    if (named === undefined || named === "UTF8") throw notUtf8(what);
    throw new BackupError(
      `${what}: its definitions hold bytes that are not UTF-8 in a ${named} database, which a restore cannot carry unchanged; nothing of it was run`,
      {
        hint:
          `only rows may hold any bytes: make the names, defaults, comments and function bodies of the source ASCII or UTF-8 (or restore the schema's .dump with pg_restore into a ${named} database)`,
      },
    );
  }
}

/** {@link scriptText} of a whole stream. */
export async function scriptTextOf(stream: ReadableStream<Uint8Array>, what: string): Promise<string> {
  return scriptText(new Uint8Array(await new Response(stream).arrayBuffer()), what);
}

/** Bytes as text of one character per byte (Buffer's latin1; TextDecoder's "latin1" is windows-1252). */
export function latin1Text(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** Text of one character per byte back to its bytes (every character must be below 0x100). */
export function latin1Bytes(t: string): Uint8Array {
  const u = utf8Encoder.encode(t);
  // All ASCII (the common case): UTF-8 is the same bytes.
  if (u.length === t.length) return u;
  const out = new Uint8Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = t.charCodeAt(i);
  return out;
}

/** Text of one character per byte, read as UTF-8 (for a step that rewrites a statement by its names). */
export function utf8Text(t: string): string {
  return new TextDecoder().decode(latin1Bytes(t));
}

/** The UTF-8 bytes of `t` as text of one character per byte: {@link utf8Text}'s inverse. */
export function bytesText(t: string): string {
  return latin1Text(utf8Encoder.encode(t));
}
