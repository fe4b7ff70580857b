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
import type { FileSink, SinkMark, Written } from "../store/sink.ts";

/**
 * The most of a line the splitters hold while waiting for its end (1 MiB): far more than any header,
 * SET, COPY statement or preamble line pg_restore writes (names are at most 63 bytes).
 */
export const HOLD_LIMIT = 1 << 20;

/** A line cut by chunk boundaries, kept as copies of its pieces until it ends (joined once). */
export class HeldLine {
  #parts: Uint8Array[] = [];
  /** Bytes held. */
  length = 0;

  /** Adds a piece (copied). */
  add(bytes: Uint8Array): void {
    this.#parts.push(bytes.slice());
    this.length += bytes.length;
  }

  /** The whole line so far, as one buffer. */
  join(): Uint8Array {
    if (this.#parts.length === 1) return this.#parts[0];
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    this.#parts = [out];
    return out;
  }

  /** Whether the line so far is `\` or `\.`: it may still become the end of COPY data. */
  mayEndCopy(): boolean {
    const b = this.join();
    return b.length <= 2 && b[0] === 0x5c && (b.length === 1 || b[1] === 0x2e);
  }
}

/** Whether `buf[start, end)` (no newline in it) may still become a `\.` line. */
export function mayEndCopy(buf: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  return n <= 2 && buf[start] === 0x5c && (n === 1 || buf[start + 1] === 0x2e);
}

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
 *
 * Linear in the input, holding at most {@link HOLD_LIMIT} bytes of a line whatever its length: rows
 * are written as they arrive. A row that does not fit must start the next part, and its length is
 * known only at its end; so a row that spans chunks is written on from a {@link SinkMark} of its part,
 * and when it outgrows the part, what was written of it is taken back from that part (read back in
 * blocks) and moved to the next, which then goes on with it. Lines before and after the data (SET
 * lines, the COPY statement) are short and held whole; one longer than the limit is refused.
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
  let opened = 1;
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
  /** Ends the current part (its COPY and its restrict) and records it. */
  const endPart = async (part: FileSink) => {
    await part.write(enc.encode("\\.\n"));
    if (restrictKey) await part.write(enc.encode(`\n\\unrestrict ${restrictKey}\n`));
    parts.push(await part.close());
  };
  /** Opens the next part, starting with the header and the COPY statement. */
  const nextPart = async () => {
    const next = await openPart(++opened);
    for (const h of [...header, ...copyHead]) await next.write(h);
    return next;
  };
  const split = async () => {
    await flush();
    await endPart(sink);
    sink = await nextPart();
    partBytes = sink.bytes;
    rowsInPart = 0;
  };
  /**
   * The line the last chunk ended in: held whole, or a row being written (`mark`: where it starts
   * in its part, while other rows precede it there and it may still have to move).
   */
  let open: { held: HeldLine } | { row: true; mark?: SinkMark } | undefined;
  /** The row being written has outgrown its part: it moves to the next part, with what it has so far. */
  const moveRow = async (mark: SinkMark) => {
    await flush();
    const next = await nextPart();
    await sink.rewind(mark, (block) => next.write(block));
    await endPart(sink);
    sink = next;
    partBytes = sink.bytes;
    rowsInPart = 1;
  };
  /** The start of a row that the chunk does not end (no newline in `b`). */
  const beginRow = async (b: Uint8Array) => {
    if (rowsInPart > 0 && partBytes + b.length + 64 > maxBytes) await split();
    rows++;
    rowsInPart++;
    let mark: SinkMark | undefined;
    if (rowsInPart > 1) {
      await flush();
      mark = sink.mark();
    }
    emit(b);
    open = { row: true, mark };
  };

  try {
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
    const whole = async (buf: Uint8Array, start: number, end: number) => {
      if (needsSplit(buf, start, end)) await split();
      handle(buf, start, end);
    };
    /**
     * COPY data whose chunk cannot take its part past the limit (so no row of it starts a new part):
     * its whole rows from `pos` up to the `\.` line, counted and passed on as one piece, without a
     * call per row. Returns where they end.
     */
    const rowsOf = (buf: Uint8Array, pos: number): number => {
      let at = pos;
      for (;;) {
        const nl = buf.indexOf(NL, at);
        if (nl === -1 || isEnd(buf, at, nl + 1)) break;
        rows++;
        rowsInPart++;
        at = nl + 1;
      }
      if (at > pos) emit(buf.subarray(pos, at));
      return at;
    };
    for await (const buf of input) {
      let pos = 0;
      if (open) {
        const nl = buf.indexOf(NL);
        const end = nl === -1 ? buf.length : nl + 1;
        pos = end;
        if ("row" in open) {
          emit(buf.subarray(0, end));
          if (open.mark && partBytes + 64 > maxBytes) {
            await moveRow(open.mark);
            open.mark = undefined;
          }
          if (nl !== -1) open = undefined;
        } else {
          const held = open.held;
          held.add(buf.subarray(0, end));
          if (nl !== -1) {
            open = undefined;
            const line = held.join();
            await whole(line, 0, line.length);
          } else if (state === "copy" && !held.mayEndCopy()) {
            open = undefined;
            await beginRow(held.join());
          } else if (held.length > HOLD_LIMIT) {
            throw new CopyHeaderError(`a line outside the COPY data is longer than ${HOLD_LIMIT} bytes`);
          }
        }
      }
      if (!open) {
        for (;;) {
          if (state === "copy" && partBytes + (buf.length - pos) + 64 <= maxBytes) pos = rowsOf(buf, pos);
          const nl = buf.indexOf(NL, pos);
          if (nl === -1) break;
          await whole(buf, pos, nl + 1);
          pos = nl + 1;
        }
        if (pos < buf.length) {
          if (state === "copy" && !mayEndCopy(buf, pos, buf.length)) await beginRow(buf.subarray(pos));
          else {
            const held = new HeldLine();
            held.add(buf.subarray(pos));
            open = { held };
          }
        }
      }
      await flush();
    }
    if (open && "held" in open) {
      const line = open.held.join();
      await whole(line, 0, line.length);
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
