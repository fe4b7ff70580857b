/**
 * Streams `pg_restore --data-only` plain output into data.sql, counting COPY rows on the way and,
 * when the file would exceed the size limit, ending the COPY and continuing in a new part that
 * repeats the header and the COPY statement. Each part restores on its own with psql, in order.
 *
 * The COPY statement is read as a statement, not as a line: a quoted table or column name may hold
 * newlines (and `\.`, `FROM stdin;`, …), so the statement ends at the first newline outside double
 * quotes, which must follow `FROM stdin;` ({@link copyHeaderEnd}).
 * @module
 */
import type { FileSink, Written } from "../store/sink.ts";

/** The result of one split run. */
export interface SplitResult {
  rows: number;
  parts: Written[];
}

const NL = 10;
const enc = new TextEncoder();
const COPY = enc.encode("COPY ");
const END = enc.encode("\\.");
const RESTRICT = enc.encode("\\restrict ");

function startsWith(buf: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false;
  return true;
}

/** A COPY statement that is not `COPY … FROM stdin;`: no rows follow it that could be counted. */
export class CopyHeaderError extends Error {
  override name = "CopyHeaderError";
}

const FROM_STDIN = enc.encode(" FROM stdin;");

/**
 * Scans one line (`buf[start, end)`, its newline included) of a COPY statement as pg_dump writes it
 * (`COPY <name> (<column>, …) FROM stdin;`, where only double-quoted identifiers can hold a newline,
 * a quote doubled inside one). `quoted` says whether the line starts inside a quoted identifier.
 * Returns `"open"` with the state at the line's end when the statement goes on, or `"end"` when the
 * line ends it. Throws a {@link CopyHeaderError} when the statement ends without ` FROM stdin;`.
 */
export function copyHeaderEnd(
  buf: Uint8Array,
  start: number,
  end: number,
  quoted: boolean,
): { open: boolean } | "end" {
  // 0x22 is never part of a multi-byte UTF-8 sequence, so counting it byte by byte is exact.
  for (let i = start; i < end; i++) if (buf[i] === 0x22) quoted = !quoted;
  if (quoted || buf[end - 1] !== NL) return { open: quoted };
  const text = end - 1;
  if (text - start < FROM_STDIN.length || !startsWith(buf, text - FROM_STDIN.length, text, FROM_STDIN)) {
    throw new CopyHeaderError("a COPY statement in the pg_restore output does not end with FROM stdin;");
  }
  return "end";
}

function isEnd(buf: Uint8Array, start: number, end: number): boolean {
  // the line without its newline is exactly "\."
  return end - start === 3 && buf[start] === END[0] && buf[start + 1] === END[1];
}

/**
 * Copies `input` into parts opened by `openPart(n)` (1-based). `maxBytes` bounds each part; a part
 * always holds at least one row, so a single row larger than the limit still goes through.
 */
export async function splitCopyStream(
  input: ReadableStream<Uint8Array>,
  maxBytes: number,
  openPart: (n: number) => Promise<FileSink>,
): Promise<SplitResult> {
  const header: Uint8Array[] = [];
  /** The COPY statement's lines (more than one when a quoted name holds a newline). */
  let copyHead: Uint8Array[] = [];
  let quoted = false;
  let restrictKey: string | undefined;
  let state = "header" as "header" | "copyhead" | "copy" | "after";
  let rows = 0;
  let rowsInPart = 0;
  const parts: Written[] = [];
  let sink = await openPart(1);
  let partBytes = 0;
  // Output is collected as views into the current chunk and written once per chunk.
  let pending: Uint8Array[] = [];
  const emit = (b: Uint8Array) => {
    partBytes += b.length;
    const last = pending[pending.length - 1];
    // adjacent views of the same chunk merge into one (one hash update, one copy per chunk)
    if (last && last.buffer === b.buffer && last.byteOffset + last.length === b.byteOffset) {
      pending[pending.length - 1] = new Uint8Array(b.buffer, last.byteOffset, last.length + b.length);
    } else pending.push(b);
  };
  const flush = async () => {
    for (const b of pending) await sink.write(b);
    pending = [];
  };
  const split = async () => {
    await flush();
    await sink.write(enc.encode("\\.\n"));
    if (restrictKey) await sink.write(enc.encode(`\n\\unrestrict ${restrictKey}\n`));
    parts.push(await sink.close());
    sink = await openPart(parts.length + 1);
    partBytes = 0;
    for (const h of [...header, ...copyHead]) emit(h);
    rowsInPart = 0;
  };

  try {
    let carry: Uint8Array | undefined;
    const needsSplit = (buf: Uint8Array, start: number, end: number) =>
      state === "copy" && rowsInPart > 0 && partBytes + (end - start) + 64 > maxBytes &&
      !isEnd(buf, start, end);
    const handle = (buf: Uint8Array, start: number, end: number) => {
      if (state === "copy") {
        if (isEnd(buf, start, end)) {
          state = "after";
        } else {
          rows++;
          rowsInPart++;
        }
        emit(buf.subarray(start, end));
        return;
      }
      const line = buf.subarray(start, end);
      if (state === "copyhead" || startsWith(buf, start, end, COPY)) {
        if (state !== "copyhead") {
          copyHead = [];
          quoted = false;
        }
        copyHead.push(line.slice());
        const r = copyHeaderEnd(buf, start, end, quoted);
        if (r === "end") state = "copy";
        else {
          state = "copyhead";
          quoted = r.open;
        }
      } else if (state === "header") {
        if (startsWith(buf, start, end, RESTRICT)) {
          restrictKey = new TextDecoder().decode(line).slice(RESTRICT.length).trim();
        }
        header.push(line.slice());
      }
      emit(line);
    };
    for await (const chunk of input) {
      let buf = chunk;
      if (carry) {
        buf = new Uint8Array(carry.length + chunk.length);
        buf.set(carry);
        buf.set(chunk, carry.length);
        carry = undefined;
      }
      let pos = 0;
      for (;;) {
        const nl = buf.indexOf(NL, pos);
        if (nl === -1) break;
        if (needsSplit(buf, pos, nl + 1)) await split();
        handle(buf, pos, nl + 1);
        pos = nl + 1;
      }
      if (pos < buf.length) carry = buf.slice(pos);
      await flush();
    }
    if (carry) {
      if (needsSplit(carry, 0, carry.length)) await split();
      handle(carry, 0, carry.length);
    }
    if (state === "copyhead") throw new CopyHeaderError("the pg_restore output ends inside a COPY statement");
    await flush();
    parts.push(await sink.close());
  } catch (e) {
    sink.abandon();
    throw e;
  }
  return { rows, parts };
}
