/**
 * Reading a table's data.sql as rows: the file is pg_restore's plain output for one TABLE DATA
 * entry, `COPY <table> (<columns>) FROM stdin;`, one row a line in COPY text format, `\.`, then
 * `setval` of owned sequences. Lines are read as a stream (never a whole file in memory), with the
 * bytes hashed and counted on the way so a file that does not match its manifest entry is refused.
 * Parsing the header, splitting fields and decoding values are pure.
 * @module
 */
import { createHash } from "node:crypto";
import { BackupError } from "../base/errors.ts";

/** Size and checksum a stream must have (a manifest entry's plaintext). */
export interface Expect {
  bytes: number;
  sha256: string;
}

/**
 * Yields the lines of a byte stream without their `\n`, as many as each chunk completes, in one
 * array (so that callers loop over a chunk's lines without a promise per line). When `expect` is
 * given, throws a {@link BackupError} naming `what` as soon as the stream runs longer than
 * `expect.bytes`, and at the end when its size or SHA-256 differs.
 */
export async function* streamLineBatches(
  stream: ReadableStream<Uint8Array>,
  what: string,
  expect?: Expect,
): AsyncGenerator<string[]> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const value of checkedChunks(stream, what, expect)) {
    const text = rest + decoder.decode(value, { stream: true });
    const lines = text.split("\n");
    rest = lines.pop()!;
    if (lines.length) yield lines;
  }
  rest += decoder.decode();
  if (rest !== "") yield [rest];
}

/**
 * The chunks of a byte stream, counted and hashed on the way: throws as soon as the stream runs
 * longer than `expect.bytes`, and after the last chunk when its size or SHA-256 differs (so the
 * caller's last line is handed on only from a whole file). The stream is cancelled at the end.
 */
async function* checkedChunks(
  stream: ReadableStream<Uint8Array>,
  what: string,
  expect: Expect | undefined,
): AsyncGenerator<Uint8Array> {
  const hash = expect ? createHash("sha256") : undefined;
  let bytes = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      if (expect && bytes > expect.bytes) {
        throw damaged(what, `longer than the ${expect.bytes} bytes recorded`);
      }
      hash?.update(value);
      yield value;
    }
    if (expect) {
      if (bytes !== expect.bytes) throw damaged(what, `${bytes} bytes, the manifest says ${expect.bytes}`);
      if (hash!.digest("hex") !== expect.sha256) throw damaged(what, "its SHA-256 differs from the manifest");
    }
  } finally {
    reader.releaseLock();
    await stream.cancel().catch(() => {});
  }
}

/**
 * Calls `fn(buf, start, end)` for each line of a byte stream (without its `\n`), on the bytes as
 * read: no string is made. `buf` is only valid during the call. Checks `expect` as
 * {@link streamLineBatches} does.
 */
export async function eachByteLine(
  stream: ReadableStream<Uint8Array>,
  what: string,
  expect: Expect | undefined,
  fn: (buf: Uint8Array, start: number, end: number) => void | Promise<void>,
): Promise<void> {
  let rest: Uint8Array | undefined;
  for await (const value of checkedChunks(stream, what, expect)) {
    let buf = value;
    if (rest) {
      buf = new Uint8Array(rest.length + value.length);
      buf.set(rest);
      buf.set(value, rest.length);
      rest = undefined;
    }
    let start = 0;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
      const p = fn(buf, start, nl);
      if (p) await p;
      start = nl + 1;
    }
    if (start < buf.length) rest = buf.slice(start);
  }
  if (rest) {
    const p = fn(rest, 0, rest.length);
    if (p) await p;
  }
}

/** The lines of a byte stream one by one; see {@link streamLineBatches}. */
export async function* streamLines(
  stream: ReadableStream<Uint8Array>,
  what: string,
  expect?: Expect,
): AsyncGenerator<string> {
  for await (const batch of streamLineBatches(stream, what, expect)) yield* batch;
}

function damaged(what: string, detail: string): BackupError {
  return new BackupError(`backup file ${what} is damaged: ${detail}`, {
    hint: "run 'backup.ts verify' on that backup, and compare another one instead",
  });
}

/** The header of a COPY block: the table and its columns as written. */
export interface CopyHeader {
  table: string;
  columns: string[];
}

/** Reads one identifier at `i` (quoted or plain); returns it and the index after it. */
function readIdent(s: string, i: number): [string, number] {
  if (s[i] === '"') {
    let out = "";
    let j = i + 1;
    for (; j < s.length; j++) {
      if (s[j] === '"') {
        if (s[j + 1] === '"') {
          out += '"';
          j++;
        } else return [out, j + 1];
      } else out += s[j];
    }
    throw new Error("unterminated quoted identifier");
  }
  const m = /^[^\s,.()"]+/.exec(s.slice(i));
  if (!m) throw new Error(`identifier expected at '${s.slice(i, i + 10)}'`);
  return [m[0], i + m[0].length];
}

/**
 * Parses an identifier list `a, "B c", d` (without the brackets). Pure. Throws on malformed text.
 */
export function parseIdentList(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  skip();
  if (i >= text.length) return out;
  for (;;) {
    const [name, j] = readIdent(text, i);
    out.push(name);
    i = j;
    skip();
    if (i >= text.length) return out;
    if (text[i] !== ",") throw new Error(`',' expected in '${text}'`);
    i++;
    skip();
  }
}

/**
 * Parses a COPY line as pg_dump writes it: `COPY schema.table (col, "Col 2") FROM stdin;`. Pure.
 * Returns undefined when `line` is not such a line.
 */
export function parseCopyHeader(line: string): CopyHeader | undefined {
  if (!line.startsWith("COPY ") || !line.endsWith(" FROM stdin;")) return undefined;
  try {
    let i = 5;
    const [schema, j] = readIdent(line, i);
    if (line[j] !== ".") return undefined;
    const [table, k] = readIdent(line, j + 1);
    i = k;
    const body = line.slice(i, -" FROM stdin;".length).trim();
    if (body === "") return { table: `${schema}.${table}`, columns: [] };
    if (!body.startsWith("(") || !body.endsWith(")")) return undefined;
    return { table: `${schema}.${table}`, columns: parseIdentList(body.slice(1, -1)) };
  } catch {
    return undefined;
  }
}

/** Number of `"` in `s`: odd while a quoted identifier is still open. */
function quotes(s: string): number {
  let n = 0;
  for (const c of s) if (c === '"') n++;
  return n;
}

/** What a data file holds, as events. */
export type DataEvent =
  | { kind: "header"; header: CopyHeader }
  | { kind: "row"; line: string }
  /** A statement line after the rows (e.g. `SELECT pg_catalog.setval(…)`). */
  | { kind: "after"; line: string };

/**
 * Reads one data file's lines as they come (pushed a batch at a time, synchronously): its COPY header,
 * each row line, and the `setval` lines after `\.`. Only the file's first COPY block is read (each
 * data file holds one); a COPY line whose quoted names hold newlines is joined back first. A file
 * without a COPY block gives only `after` lines.
 */
export class DataReader {
  #state: "before" | "rows" | "after" = "before";
  #pending = "";
  header?: CopyHeader;
  /** The `setval` lines after the rows. */
  readonly after: string[] = [];

  /** Whether the next line is a row or the `\.` that ends them (see {@link endRows}). */
  get inRows(): boolean {
    return this.#state === "rows";
  }

  /** The `\.` line was read (by a caller that reads row lines itself, as bytes). */
  endRows(): void {
    this.#state = "after";
  }

  /** Takes the next lines; calls `row` for each row line among them. */
  push(lines: readonly string[], row: (line: string) => void): void {
    for (const line of lines) {
      if (this.#state === "rows") {
        if (line === "\\.") this.#state = "after";
        else row(line);
        continue;
      }
      if (this.#state === "after") {
        if (line.startsWith("SELECT pg_catalog.setval(")) this.after.push(line);
        continue;
      }
      if (this.#pending !== "" || line.startsWith("COPY ")) {
        this.#pending = this.#pending === "" ? line : `${this.#pending}\n${line}`;
        if (quotes(this.#pending) % 2 === 1) continue; // a quoted name goes on on the next line
        const header = parseCopyHeader(this.#pending);
        this.#pending = "";
        if (header) {
          this.#state = "rows";
          this.header = header;
        }
      } else if (line.startsWith("SELECT pg_catalog.setval(")) this.after.push(line);
    }
  }
}

/**
 * The events of one data file, one by one (see {@link DataReader}): its COPY header, each row line,
 * and the `setval` lines after `\.`.
 */
export async function* dataEvents(lines: AsyncIterable<string>): AsyncGenerator<DataEvent> {
  const r = new DataReader();
  for await (const line of lines) {
    const rows: string[] = [];
    const hadHeader = r.header !== undefined;
    const after = r.after.length;
    r.push([line], (l) => rows.push(l));
    if (!hadHeader && r.header) yield { kind: "header", header: r.header };
    for (const l of rows) yield { kind: "row", line: l };
    for (const l of r.after.slice(after)) yield { kind: "after", line: l };
  }
}

/** Splits a COPY text row into its raw fields (tabs inside values are escaped, so a tab splits). Pure. */
export function splitRow(line: string): string[] {
  return line.split("\t");
}

const ESCAPES: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

/**
 * Decodes one raw COPY text field to its value: `\N` is null; `\n`, `\t`, `\\`, octal `\123` and
 * hex `\x41` escapes are resolved. Pure.
 */
export function decodeField(raw: string): string | null {
  if (raw === "\\N") return null;
  if (!raw.includes("\\")) return raw;
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c !== "\\" || i + 1 >= raw.length) {
      out += c;
      continue;
    }
    const n = raw[++i];
    if (n in ESCAPES) out += ESCAPES[n];
    else if (/[0-7]/.test(n)) {
      const m = /^[0-7]{1,3}/.exec(raw.slice(i))![0];
      out += String.fromCharCode(parseInt(m, 8) & 0xff);
      i += m.length - 1;
    } else if (n === "x" && /[0-9a-fA-F]/.test(raw[i + 1] ?? "")) {
      const m = /^[0-9a-fA-F]{1,2}/.exec(raw.slice(i + 1))![0];
      out += String.fromCharCode(parseInt(m, 16));
      i += m.length;
    } else out += n;
  }
  return out;
}
