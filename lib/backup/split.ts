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
const END_LINE = enc.encode("\\.\n");
const dec = new TextDecoder();

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
 * Copies `input` into parts opened by `openPart(n)` (1-based); see {@link CopySplitter}, which it
 * feeds chunk by chunk.
 */
export async function splitCopyStream(
  input: ReadableStream<Uint8Array>,
  maxBytes: number,
  openPart: (n: number) => Promise<FileSink>,
): Promise<SplitResult> {
  const s = await CopySplitter.open(maxBytes, openPart);
  try {
    for await (const buf of input) await s.push(buf);
    return await s.finish();
  } catch (e) {
    s.abandon();
    throw e;
  }
}

/**
 * Copies the pieces it is given into parts opened by `openPart(n)` (1-based). `maxBytes` bounds each
 * part; a part always holds at least one row, so a single row larger than the limit still goes
 * through. Fed by {@link push} and ended by {@link finish} (or {@link abandon}): no stream in between,
 * for a backup's thousands of small tables one after another.
 *
 * Linear in the input, holding at most {@link HOLD_LIMIT} bytes of a line whatever its length: rows
 * are written as they arrive. A row that does not fit must start the next part, and its length is
 * known only at its end; so a row that spans chunks is written on from a {@link SinkMark} of its part,
 * and when it outgrows the part, what was written of it is taken back from that part (read back in
 * blocks) and moved to the next, which then goes on with it. Lines before and after the data (SET
 * lines, the COPY statement) are short and held whole; one longer than the limit is refused.
 */
export class CopySplitter {
  #maxBytes: number;
  #openPart: (n: number) => Promise<FileSink>;
  #header: Uint8Array[] = [];
  /** Header lines of the piece being pushed, as a view into it: copied once, before push returns. */
  #headerRun?: { buf: Uint8Array; start: number; end: number };
  /** The COPY statement's lines (more than one when a quoted name holds a newline). */
  #copyHead: Uint8Array[] = [];
  #quoted = false;
  #restrictKey: string | undefined;
  #state: "header" | "copyhead" | "copy" | "after" = "header";
  #rows = 0;
  #rowsInPart = 0;
  #parts: Written[] = [];
  #sink: FileSink;
  #opened = 1;
  #partBytes = 0;
  /** Output, as views into the current chunk, written once per chunk. */
  #pending: Uint8Array[] = [];
  /**
   * The line the last chunk ended in: held whole, or a row being written (`mark`: where it starts
   * in its part, while other rows precede it there and it may still have to move).
   */
  #open: { held: HeldLine } | { row: true; mark?: SinkMark } | undefined;

  private constructor(maxBytes: number, openPart: (n: number) => Promise<FileSink>, first: FileSink) {
    this.#maxBytes = maxBytes;
    this.#openPart = openPart;
    this.#sink = first;
  }

  /** A splitter writing to parts opened by `openPart` (the first is opened now). */
  static async open(maxBytes: number, openPart: (n: number) => Promise<FileSink>): Promise<CopySplitter> {
    return new CopySplitter(maxBytes, openPart, await openPart(1));
  }

  #emit(b: Uint8Array): void {
    this.#partBytes += b.length;
    const pending = this.#pending;
    const last = pending[pending.length - 1];
    // adjacent views of the same chunk merge into one (one hash update, one copy per chunk)
    if (last && last.buffer === b.buffer && last.byteOffset + last.length === b.byteOffset) {
      pending[pending.length - 1] = new Uint8Array(b.buffer, last.byteOffset, last.length + b.length);
    } else pending.push(b);
  }

  async #flush(): Promise<void> {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    for (const b of pending) await this.#sink.write(b);
  }

  /** Ends a part (its COPY and its restrict) and records it. */
  async #endPart(part: FileSink): Promise<void> {
    await part.write(END_LINE);
    if (this.#restrictKey) await part.write(enc.encode(`\n\\unrestrict ${this.#restrictKey}\n`));
    this.#parts.push(await part.close());
  }

  /** Opens the next part, starting with the header and the COPY statement. */
  async #nextPart(): Promise<FileSink> {
    const next = await this.#openPart(++this.#opened);
    this.#sealHeader();
    for (const h of this.#header) await next.write(h);
    for (const h of this.#copyHead) await next.write(h);
    return next;
  }

  /** Copies the header lines of the piece being pushed (it is not kept). */
  #sealHeader(): void {
    const r = this.#headerRun;
    if (!r) return;
    this.#headerRun = undefined;
    this.#header.push(r.buf.slice(r.start, r.end));
  }

  async #split(): Promise<void> {
    await this.#flush();
    await this.#endPart(this.#sink);
    this.#sink = await this.#nextPart();
    this.#partBytes = this.#sink.bytes;
    this.#rowsInPart = 0;
  }

  /** The row being written has outgrown its part: it moves to the next part, with what it has so far. */
  async #moveRow(mark: SinkMark): Promise<void> {
    await this.#flush();
    const next = await this.#nextPart();
    await this.#sink.rewind(mark, (block) => next.write(block));
    await this.#endPart(this.#sink);
    this.#sink = next;
    this.#partBytes = next.bytes;
    this.#rowsInPart = 1;
  }

  /** The start of a row that the chunk does not end (no newline in `b`). */
  async #beginRow(b: Uint8Array): Promise<void> {
    if (this.#rowsInPart > 0 && this.#partBytes + b.length + 64 > this.#maxBytes) await this.#split();
    this.#rows++;
    this.#rowsInPart++;
    let mark: SinkMark | undefined;
    if (this.#rowsInPart > 1) {
      await this.#flush();
      mark = this.#sink.mark();
    }
    this.#emit(b);
    this.#open = { row: true, mark };
  }

  #needsSplit(buf: Uint8Array, start: number, end: number): boolean {
    return this.#state === "copy" && this.#rowsInPart > 0 &&
      this.#partBytes + (end - start) + 64 > this.#maxBytes &&
      !isEnd(buf, start, end);
  }

  #handle(buf: Uint8Array, start: number, end: number): void {
    if (this.#state === "copy") {
      if (isEnd(buf, start, end)) {
        this.#state = "after";
      } else {
        this.#rows++;
        this.#rowsInPart++;
      }
      this.#emit(buf.subarray(start, end));
      return;
    }
    const line = buf.subarray(start, end);
    if (this.#state === "copyhead" || startsWith(buf, start, end, COPY)) {
      if (this.#state !== "copyhead") {
        this.#copyHead = [];
        this.#quoted = false;
      }
      this.#copyHead.push(line.slice());
      const r = copyHeaderEnd(buf, start, end, this.#quoted);
      if (r === "end") this.#state = "copy";
      else {
        this.#state = "copyhead";
        this.#quoted = r.open;
      }
    } else if (this.#state === "header") {
      if (startsWith(buf, start, end, RESTRICT)) {
        this.#restrictKey = dec.decode(line).slice(RESTRICT.length).trim();
      }
      const r = this.#headerRun;
      if (r && r.buf === buf && r.end === start) r.end = end;
      else {
        this.#sealHeader();
        this.#headerRun = { buf, start, end };
      }
    }
    this.#emit(line);
  }

  async #whole(buf: Uint8Array, start: number, end: number): Promise<void> {
    if (this.#needsSplit(buf, start, end)) await this.#split();
    this.#handle(buf, start, end);
  }

  /**
   * COPY data whose chunk cannot take its part past the limit (so no row of it starts a new part):
   * its whole rows from `pos` up to the `\.` line, counted and passed on as one piece, without a
   * call per row. Returns where they end.
   */
  #rowsOf(buf: Uint8Array, pos: number): number {
    let at = pos;
    for (;;) {
      const nl = buf.indexOf(NL, at);
      if (nl === -1 || isEnd(buf, at, nl + 1)) break;
      this.#rows++;
      this.#rowsInPart++;
      at = nl + 1;
    }
    if (at > pos) this.#emit(buf.subarray(pos, at));
    return at;
  }

  /** The next piece of the input (not kept: it may be reused once this returns). */
  async push(buf: Uint8Array): Promise<void> {
    let pos = 0;
    const open = this.#open;
    if (open) {
      const nl = buf.indexOf(NL);
      const end = nl === -1 ? buf.length : nl + 1;
      pos = end;
      if ("row" in open) {
        this.#emit(buf.subarray(0, end));
        if (open.mark && this.#partBytes + 64 > this.#maxBytes) {
          await this.#moveRow(open.mark);
          open.mark = undefined;
        }
        if (nl !== -1) this.#open = undefined;
      } else {
        const held = open.held;
        held.add(buf.subarray(0, end));
        if (nl !== -1) {
          this.#open = undefined;
          const line = held.join();
          await this.#whole(line, 0, line.length);
        } else if (this.#state === "copy" && !held.mayEndCopy()) {
          this.#open = undefined;
          await this.#beginRow(held.join());
        } else if (held.length > HOLD_LIMIT) {
          throw new CopyHeaderError(`a line outside the COPY data is longer than ${HOLD_LIMIT} bytes`);
        }
      }
    }
    if (!this.#open) {
      for (;;) {
        if (this.#state === "copy" && this.#partBytes + (buf.length - pos) + 64 <= this.#maxBytes) {
          pos = this.#rowsOf(buf, pos);
        }
        const nl = buf.indexOf(NL, pos);
        if (nl === -1) break;
        await this.#whole(buf, pos, nl + 1);
        pos = nl + 1;
      }
      if (pos < buf.length) {
        if (this.#state === "copy" && !mayEndCopy(buf, pos, buf.length)) {
          await this.#beginRow(buf.subarray(pos));
        } else {
          const held = new HeldLine();
          held.add(buf.subarray(pos));
          this.#open = { held };
        }
      }
    }
    this.#sealHeader();
    await this.#flush();
  }

  /** Ends the input: writes what is left and closes the last part. */
  async finish(): Promise<SplitResult> {
    const open = this.#open;
    if (open && "held" in open) {
      this.#open = undefined;
      const line = open.held.join();
      await this.#whole(line, 0, line.length);
    }
    if (this.#state === "copyhead") {
      throw new CopyHeaderError("the pg_restore output ends inside a COPY statement");
    }
    await this.#flush();
    this.#parts.push(await this.#sink.close());
    return { rows: this.#rows, parts: this.#parts };
  }

  /** Closes the current part without caring about its content (on failure). */
  abandon(): void {
    this.#sink.abandon();
  }
}
