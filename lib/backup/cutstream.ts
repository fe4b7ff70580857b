/**
 * Splitting one `pg_restore -v -L <list> -f -` stream of a schema dump into per-table files, each
 * byte for byte what `pg_restore -L <that file's entries> -f -` would write on its own. Pure: the
 * caller feeds chunks of the stream and writes the segments it gets back.
 *
 * How an entry is found: with `-v`, pg_restore writes each entry's header as
 *
 * ```
 * --
 * -- TOC entry <dumpId> (class <catalog oid> OID <object oid>)
 * -- Dependencies: <ids>              (only when it has some)
 * -- [Data for ]Name: …; Type: <desc>; Schema: …; Owner: …
 * -- Data Pos: <n>                    (custom format)
 * --
 *
 * ```
 *
 * possibly preceded by `SET default_tablespace = …;` and `SET default_table_access_method = …;`
 * (each followed by an empty line), which pg_restore writes only when the value changes. A header
 * counts only when its id, oids and type are those of an entry in the list that has not been seen
 * yet; COPY data (between `COPY … FROM stdin;` and `\.`) is never searched, nor is the COPY
 * statement itself, which spans several lines when a quoted name holds a newline (it ends at the first
 * newline outside double quotes: {@link copyHeaderEnd}). A header in an entry's
 * body that copies a real one (it could only come from crafted object definitions) makes the real
 * header a second one, and the split stops with a {@link TocSplitError} instead of misrouting.
 *
 * Each file gets the stream's preamble (without `-- Started on`), with its own `\restrict` key, its
 * entries with the non-verbose header (`--`, the Name line, `--`, empty line) and the trailer of
 * `pg_restore -L <empty list>` (the `frame`). Before an entry, a file gets the SET lines that
 * pg_restore would write there when restoring that file alone: the tablespace for entries that have
 * one, the table access method for tables and materialized views (not partitioned tables), when the
 * file's own last value differs. The value is the stream's at that entry.
 *
 * The split is linear in the stream and holds at most {@link HOLD_LIMIT} bytes of it, whatever the
 * length of a line: COPY data and the lines of a body that cannot start a header are passed on as they
 * arrive, a line cut by a chunk boundary is held only when it could be part of a header, a COPY
 * statement or the preamble (all short: their names are at most 63 bytes each), and a held line that
 * grows past the limit is body text (or, in a COPY statement or the preamble, a {@link TocSplitError}).
 * @module
 */
import { copyHeaderEnd, CopyHeaderError, HeldLine, HOLD_LIMIT, mayEndCopy } from "./split.ts";

/** How one TOC entry of the list is routed (to a file of type `F`). */
export interface SplitEntry<F = string> {
  /** The file it goes to (any id the caller chooses, compared with ===). */
  file: F;
  /** TOC description, e.g. `TABLE`, `TABLE DATA`, `ACL`. */
  desc: string;
  catalogOid: number;
  objectOid: number;
  /** A partitioned table: pg_restore sets no default access method before it. */
  noTableAm?: boolean;
}

/** What the splitter needs to know up front. */
export interface SplitSpec<F = string> {
  /** dumpId → route, for every entry in the `-L` list. */
  entries: Map<number, SplitEntry<F>>;
  /**
   * Every output file → its `\restrict` key (absent: the stream has none either). Read once, when
   * the splitter is made: the caller may drop it then.
   */
  files: Iterable<readonly [F, { restrictKey?: string }]>;
  /** The output of `pg_restore -L <empty list> -f - [--restrict-key=streamKey]`: preamble + trailer. */
  frame: string;
  /** The `--restrict-key` given to both pg_restore runs. */
  streamKey?: string;
}

/** A piece of a file's content, or the end of a file. */
export type SplitOutput<F = string> = { file: F; bytes: Uint8Array } | { file: F; end: true };

/** The stream does not have the expected shape; nothing written from it should be kept. */
export class TocSplitError extends Error {
  override name = "TocSplitError";
}

/** Descriptions whose entries carry a tablespace (tables, indexes, index constraints, matviews). */
const TABLESPACE_DESCS = new Set(["TABLE", "MATERIALIZED VIEW", "INDEX", "CONSTRAINT"]);
/** Descriptions whose entries carry a table access method. */
const TABLE_AM_DESCS = new Set(["TABLE", "MATERIALIZED VIEW"]);

const IDENT = `(?:''|[a-z_][a-z0-9_]*|"(?:[^"]|"")+")`;
const SET_TS = new RegExp(`^SET default_tablespace = ${IDENT};$`);
const SET_AM = new RegExp(`^SET default_table_access_method = ${IDENT};$`);
const TOC_LINE = /^-- TOC entry (\d+) \(class (\d+) OID (\d+)\)$/;
const DEPS_LINE = /^-- Dependencies:( \d+)*$/;
const NAME_LINE = /^-- (?:Data for )?Name: .*; Type: (.+?); Schema: /;
const POS_LINE = /^-- Data Pos: \d+$/;
const STARTED = /^-- Started on /;
const COMPLETED = /^-- Completed on /;

/** A complete separator (SET lines + header), as found before an entry. */
export interface Separator {
  dumpId: number;
  setTablespace?: string;
  setTableAm?: string;
  /** The `-- Name: …` line. */
  nameLine: string;
}

/**
 * Matches lines (without newlines) against the separator grammar. "prefix": the lines could still
 * become one; "no": they cannot. Throws when a header names an entry already seen.
 */
export function matchSeparator(
  lines: string[],
  entries: Map<number, SplitEntry<unknown>>,
  seen: ReadonlySet<number>,
): Separator | "prefix" | "no" {
  const m = new SeparatorMatch(entries);
  let r: Separator | "prefix" | "no" = "prefix";
  for (const [i, line] of lines.entries()) {
    r = m.add(line);
    if (r === "no") return "no";
    if (r !== "prefix" && i !== lines.length - 1) return "no";
  }
  if (r !== "prefix") checkUnseen(r, seen);
  return r;
}

/** Throws when the separator's entry was seen before (a header copied into a body). */
function checkUnseen(sep: Separator, seen: ReadonlySet<number>): void {
  if (seen.has(sep.dumpId)) {
    throw new TocSplitError(`TOC entry ${sep.dumpId} appears twice in the pg_restore output`);
  }
}

/** Where a {@link SeparatorMatch} is in the grammar: what its next line may be. */
type MatchAt =
  | "ts"
  | "tsGap"
  | "am"
  | "amGap"
  | "open"
  | "toc"
  | "deps"
  | "name"
  | "pos"
  | "close"
  | "gap"
  | "done"
  | "no";

/**
 * The separator grammar of {@link matchSeparator}, fed one line at a time: each line is looked at
 * once, however many lines a header has (the splitter holds a header's lines as they arrive).
 */
class SeparatorMatch {
  #entries: Map<number, SplitEntry<unknown>>;
  /** What the next line may be. */
  #at: MatchAt = "ts";
  #entry?: SplitEntry<unknown>;
  #sep: Partial<Separator> = {};

  constructor(entries: Map<number, SplitEntry<unknown>>) {
    this.#entries = entries;
  }

  /** The next line: the state of all lines so far (a separator once its empty line ends it). */
  add(line: string): Separator | "prefix" | "no" {
    this.#at = this.#next(line);
    if (this.#at === "no") return "no";
    return this.#at === "done" ? this.#sep as Separator : "prefix";
  }

  #next(line: string): MatchAt {
    switch (this.#at) {
      case "ts":
        if (SET_TS.test(line)) {
          this.#sep.setTablespace = line;
          return "tsGap";
        }
        return this.#am(line);
      case "tsGap":
        return line === "" ? "am" : "no";
      case "am":
        return this.#am(line);
      case "amGap":
        return line === "" ? "open" : "no";
      case "open":
        return line === "--" ? "toc" : "no";
      case "toc": {
        const toc = line.match(TOC_LINE);
        if (!toc) return "no";
        const id = Number(toc[1]);
        const e = this.#entries.get(id);
        if (!e || e.catalogOid !== Number(toc[2]) || e.objectOid !== Number(toc[3])) return "no";
        this.#entry = e;
        this.#sep.dumpId = id;
        return "deps";
      }
      case "deps":
        if (DEPS_LINE.test(line)) return "name";
        return this.#name(line);
      case "name":
        return this.#name(line);
      case "pos":
        if (POS_LINE.test(line)) return "close";
        return line === "--" ? "gap" : "no";
      case "close":
        return line === "--" ? "gap" : "no";
      case "gap":
        return line === "" ? "done" : "no";
      default:
        return "no";
    }
  }

  #am(line: string): MatchAt {
    if (SET_AM.test(line)) {
      this.#sep.setTableAm = line;
      return "amGap";
    }
    return line === "--" ? "toc" : "no";
  }

  #name(line: string): MatchAt {
    if (!NAME_LINE.test(line) || !line.includes(`; Type: ${this.#entry!.desc}; Schema: `)) return "no";
    this.#sep.nameLine = line;
    return "pos";
  }
}

interface FileState {
  key?: string;
  started: boolean;
  left: number;
  tablespace?: string;
  tableAm?: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const NL = 10;

/**
 * A text whose `\restrict`/`\unrestrict` lines' key (`from`, whole lines only) is replaced by each
 * file's own: cut around those keys once, for the thousands of files that start or end with it.
 */
class Keyed {
  #text: string;
  /** The text between the keys; absent when there is no key to replace. */
  #pieces?: string[];

  constructor(text: string, from: string | undefined) {
    this.#text = text;
    if (from === undefined) return;
    const pieces: string[] = [];
    let last = 0;
    let at = 0;
    for (const line of text.split("\n")) {
      for (const p of ["\\restrict ", "\\unrestrict "]) {
        if (line === p + from) {
          pieces.push(text.slice(last, at + p.length));
          last = at + line.length;
        }
      }
      at += line.length + 1;
    }
    pieces.push(text.slice(last));
    this.#pieces = pieces;
  }

  /** The text with key `to` (unchanged when `to` is absent). */
  with(to: string | undefined): string {
    return to === undefined || !this.#pieces ? this.#text : this.#pieces.join(to);
  }
}

/** Splits one verbose pg_restore stream; see the module documentation. */
export class TocStreamSplitter<F = string> {
  #entries: Map<number, SplitEntry<F>>;
  #frame: string;
  #streamKey?: string;
  #files = new Map<F, FileState>();
  #seen = new Set<number>();
  #mode: "preamble" | "body" | "copyhead" | "copy" = "preamble";
  /** In "copyhead": the COPY statement's line so far ends inside a quoted name. */
  #quoted = false;
  /** In "body": no line of the current entry's body yet (a COPY line may start it). */
  #bodyStart = false;
  #current?: SplitEntry<F>;
  #preamble: string[] = [];
  #pre?: string;
  #post?: string;
  #preKeyed?: Keyed;
  #postKeyed?: Keyed;
  #frameKeyed?: Keyed;
  #tablespace?: string;
  #tableAm?: string;
  /** Lines that may start a separator or the trailer: [text, bytes]. */
  #held: [string, Uint8Array][] = [];
  /** The separator grammar over the first {@link #fed} held lines. */
  #matcher?: SeparatorMatch;
  #fed = 0;
  /**
   * The line the last chunk ended in: held (it may matter as a whole) or streamed (COPY data, or a
   * body line that cannot start a header: its bytes were passed on).
   */
  #open?: HeldLine | "streamed";
  #limit: number;
  #out: SplitOutput<F>[] = [];
  /** A run of body bytes in the current chunk, for the current file. */
  #run?: { buf: Uint8Array; start: number; end: number };

  constructor(spec: SplitSpec<F>) {
    this.#entries = spec.entries;
    this.#frame = spec.frame;
    this.#streamKey = spec.streamKey;
    this.#limit = Math.max(HOLD_LIMIT, enc.encode(spec.frame).length);
    for (const [file, f] of spec.files) {
      this.#files.set(file, { key: f.restrictKey, started: false, left: 0 });
    }
    for (const e of spec.entries.values()) {
      const f = this.#files.get(e.file);
      if (!f) throw new TocSplitError(`entry routed to unknown file ${String(e.file)}`);
      f.left++;
    }
  }

  /** Bytes of the stream held inside the splitter (at most about {@link HOLD_LIMIT}). */
  get held(): number {
    const open = this.#open instanceof HeldLine ? this.#open.length : 0;
    return open + this.#held.reduce((n, [, b]) => n + b.length, 0);
  }

  /** Feeds the next chunk of the stream; returns what to write, in order. */
  push(chunk: Uint8Array): SplitOutput<F>[] {
    let pos = this.#open ? this.#resume(chunk) : 0;
    if (!this.#open) pos = this.#lines(chunk, pos);
    if (pos < chunk.length) this.#begin(chunk, pos);
    this.#flushRun();
    // Held lines are views into their chunk while it is split; those still held are copied.
    for (const h of this.#held) if (h[1].buffer === chunk.buffer) h[1] = h[1].slice();
    return this.#take();
  }

  /** Continues the line the last chunk ended in; returns where it ends in `chunk` (or its length). */
  #resume(chunk: Uint8Array): number {
    const nl = chunk.indexOf(NL);
    const end = nl === -1 ? chunk.length : nl + 1;
    const open = this.#open!;
    if (open === "streamed") {
      this.#body(chunk, 0, end);
      if (nl !== -1) this.#open = undefined;
      return end;
    }
    open.add(chunk.subarray(0, end));
    if (nl !== -1) {
      this.#open = undefined;
      const line = open.join();
      this.#oneLine(line, 0, line.length);
    } else if (this.#mode === "copy" && !open.mayEndCopy()) this.#stream(open.join());
    else if (open.length > this.#limit) this.#long(open.join());
    return end;
  }

  /** A line that the chunk ends in (no newline): passed on when it is COPY data, held otherwise. */
  #begin(chunk: Uint8Array, pos: number): void {
    if (this.#mode === "copy" && !mayEndCopy(chunk, pos, chunk.length)) {
      this.#body(chunk, pos, chunk.length);
      this.#open = "streamed";
      return;
    }
    const h = new HeldLine();
    h.add(chunk.subarray(pos));
    this.#open = h;
    if (h.length > this.#limit) this.#long(h.join());
  }

  /** Passes a held line's bytes on as body and the rest of the line with them. */
  #stream(bytes: Uint8Array): void {
    this.#body(bytes, 0, bytes.length);
    this.#open = "streamed";
  }

  /**
   * A held line grew past the limit: it cannot be a header, SET or trailer line, so in a body it is
   * text (with the lines held before it); a COPY statement or preamble line that long is not
   * pg_restore's.
   */
  #long(bytes: Uint8Array): void {
    if (this.#mode === "copyhead" || this.#mode === "preamble" || this.#copyLine(bytes, 0, bytes.length)) {
      throw new TocSplitError(`a line of the pg_restore output is longer than ${this.#limit} bytes`);
    }
    this.#bodyStart = false;
    this.#release();
    this.#stream(bytes);
  }

  /** Whether this line starts the current entry's COPY statement. */
  #copyLine(buf: Uint8Array, start: number, end: number): boolean {
    return this.#bodyStart && this.#current!.desc === "TABLE DATA" && end - start >= 5 &&
      buf[start] === 0x43 /* C */ && dec.decode(buf.subarray(start, start + 5)) === "COPY ";
  }

  /** One whole line (its newline included, except at the end of the stream). */
  #oneLine(buf: Uint8Array, start: number, end: number): void {
    if (this.#mode === "copy") {
      if (end - start === 3 && buf[start] === 0x5c && buf[start + 1] === 0x2e) this.#mode = "body";
      this.#body(buf, start, end);
    } else if (this.#mode === "copyhead") {
      this.#body(buf, start, end);
      this.#copyHead(buf, start, end);
    } else this.#line(buf, start, end);
  }

  /** The whole lines of `buf` from `pos` on; returns where the last one ends. */
  #lines(buf: Uint8Array, pos: number): number {
    for (;;) {
      const nl = buf.indexOf(NL, pos);
      if (nl === -1) break;
      if (this.#mode === "copy") {
        // Everything up to and including the `\.` line is data of the current entry.
        let end = nl + 1;
        let start = pos;
        for (;;) {
          if (end - start === 3 && buf[start] === 0x5c && buf[start + 1] === 0x2e) {
            this.#mode = "body";
            break;
          }
          const next = buf.indexOf(NL, end);
          if (next === -1) break;
          start = end;
          end = next + 1;
        }
        this.#body(buf, pos, end);
        pos = end;
        continue;
      }
      if (this.#mode === "copyhead") {
        this.#body(buf, pos, nl + 1);
        this.#copyHead(buf, pos, nl + 1);
        pos = nl + 1;
        continue;
      }
      this.#line(buf, pos, nl + 1);
      pos = nl + 1;
    }
    return pos;
  }

  /** Ends the stream; checks that every entry was found and ends every file. */
  finish(): SplitOutput<F>[] {
    const open = this.#open;
    this.#open = undefined;
    if (open instanceof HeldLine) {
      const c = open.join();
      if (this.#mode === "copy" || this.#mode === "copyhead") this.#body(c, 0, c.length);
      else this.#line(c, 0, c.length);
    }
    this.#flushRun();
    if (this.#mode === "preamble") throw new TocSplitError("the pg_restore output has no TOC entry header");
    if (this.#mode === "copy" || this.#mode === "copyhead") {
      throw new TocSplitError("the pg_restore output ends inside COPY data");
    }
    const tail = this.#held.map(([t]) => t);
    const trailer = this.#post!.split("\n").slice(0, -1);
    if (
      tail.length !== trailer.length + 2 || !COMPLETED.test(tail[0]) || tail[1] !== "" ||
      trailer.some((l, i) => tail[i + 2] !== l)
    ) {
      throw new TocSplitError("the pg_restore output does not end with its trailer");
    }
    this.#clearHeld();
    this.#endEntry();
    for (const [id, e] of this.#entries) {
      if (!this.#seen.has(id)) {
        throw new TocSplitError(`TOC entry ${id} (${e.desc}) is missing from the output`);
      }
    }
    for (const [file, f] of this.#files) {
      if (f.started) continue;
      this.#out.push({ file, bytes: enc.encode(this.#framed.with(f.key)) });
      this.#out.push({ file, end: true });
    }
    return this.#take();
  }

  /** For an empty list (no pg_restore stream to split): every file is the frame alone. */
  finishEmpty(): SplitOutput<F>[] {
    if (this.#entries.size > 0) throw new TocSplitError("finishEmpty with entries to write");
    for (const [file, f] of this.#files) {
      this.#out.push({ file, bytes: enc.encode(this.#framed.with(f.key)) });
      this.#out.push({ file, end: true });
    }
    return this.#take();
  }

  /** The frame, for the files with no entry in the stream. */
  get #framed(): Keyed {
    return this.#frameKeyed ??= new Keyed(this.#frame, this.#streamKey);
  }

  #take(): SplitOutput<F>[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #flushRun(): void {
    const r = this.#run;
    if (!r) return;
    this.#run = undefined;
    if (r.end > r.start) this.#out.push({ file: this.#current!.file, bytes: r.buf.subarray(r.start, r.end) });
  }

  #emit(file: F, text: string): void {
    this.#flushRun();
    this.#out.push({ file, bytes: enc.encode(text) });
  }

  /** Body bytes of the current entry (or preamble text). */
  #body(buf: Uint8Array, start: number, end: number): void {
    if (this.#mode === "preamble") {
      this.#preamble.push(dec.decode(buf.subarray(start, end)));
      return;
    }
    const r = this.#run;
    if (r && r.buf === buf && r.end === start) r.end = end;
    else {
      this.#flushRun();
      this.#run = { buf, start, end };
    }
  }

  #line(buf: Uint8Array, start: number, end: number): void {
    const len = end - start - (buf[end - 1] === NL ? 1 : 0);
    if (this.#bodyStart) {
      const copy = this.#copyLine(buf, start, start + len);
      this.#bodyStart = false;
      if (copy) {
        this.#body(buf, start, end);
        this.#quoted = false;
        this.#copyHead(buf, start, end);
        return;
      }
    }
    const b0 = buf[start];
    // While lines are held (near a header or the trailer) every line is looked at.
    const candidate = this.#held.length > 0 || (len > 0 && (b0 === 0x2d /* - */ || b0 === 0x53 /* S */));
    if (!candidate) {
      this.#release();
      this.#body(buf, start, end);
      return;
    }
    const text = dec.decode(buf.subarray(start, start + len));
    this.#held.push([text, buf.subarray(start, end)]);
    this.#match();
  }

  /** One line of a COPY statement (already routed as body): "copy" once it ends, else "copyhead". */
  #copyHead(buf: Uint8Array, start: number, end: number): void {
    let r;
    try {
      r = copyHeaderEnd(buf, start, end, this.#quoted);
    } catch (e) {
      if (e instanceof CopyHeaderError) throw new TocSplitError(e.message);
      throw e;
    }
    if (r === "end") this.#mode = "copy";
    else {
      this.#mode = "copyhead";
      this.#quoted = r.open;
    }
  }

  /** Flushes every held line as body. */
  #release(): void {
    for (const [, bytes] of this.#held) this.#body(bytes, 0, bytes.length);
    this.#clearHeld();
  }

  #clearHeld(): void {
    this.#held = [];
    this.#matcher = undefined;
    this.#fed = 0;
  }

  /** Acts on the held lines: a complete separator starts an entry; a dead prefix is body. */
  #match(): void {
    while (this.#held.length > 0) {
      const held = this.#held;
      if (this.#post !== undefined && COMPLETED.test(held[0][0])) {
        const trailer = this.#post.split("\n").slice(0, -1);
        const want = ["", ...trailer];
        if (held.slice(1).every(([l], i) => i < want.length && want[i] === l)) return; // maybe the end
      }
      // The held lines are fed to the matcher once each, as they arrive; it starts again after a shift.
      this.#matcher ??= new SeparatorMatch(this.#entries);
      let m: Separator | "prefix" | "no" = "prefix";
      while (this.#fed < held.length && m === "prefix") m = this.#matcher.add(held[this.#fed++][0]);
      if (m !== "no" && m !== "prefix" && this.#fed !== held.length) m = "no";
      if (m === "prefix") return;
      this.#matcher = undefined;
      this.#fed = 0;
      if (m !== "no") {
        checkUnseen(m, this.#seen);
        this.#clearHeld();
        this.#startEntry(m);
        return;
      }
      const [, bytes] = held.shift()!;
      this.#body(bytes, 0, bytes.length);
    }
  }

  #endEntry(): void {
    this.#flushRun();
    const e = this.#current;
    if (!e) return;
    const f = this.#files.get(e.file)!;
    if (--f.left === 0) {
      this.#emit(e.file, this.#postKeyed!.with(f.key));
      this.#out.push({ file: e.file, end: true });
    }
    this.#current = undefined;
  }

  #startEntry(sep: Separator): void {
    if (this.#mode === "preamble") this.#endPreamble();
    this.#endEntry();
    this.#seen.add(sep.dumpId);
    const e = this.#entries.get(sep.dumpId)!;
    this.#current = e;
    this.#mode = "body";
    this.#bodyStart = true;
    if (sep.setTablespace) this.#tablespace = sep.setTablespace;
    if (sep.setTableAm) this.#tableAm = sep.setTableAm;
    const f = this.#files.get(e.file)!;
    let text = "";
    if (!f.started) {
      f.started = true;
      text += this.#preKeyed!.with(f.key);
    }
    const needsTablespace = sep.setTablespace !== undefined || TABLESPACE_DESCS.has(e.desc);
    if (needsTablespace && this.#tablespace !== undefined && f.tablespace !== this.#tablespace) {
      f.tablespace = this.#tablespace;
      text += `${this.#tablespace}\n\n`;
    }
    const needsTableAm = sep.setTableAm !== undefined || (TABLE_AM_DESCS.has(e.desc) && !e.noTableAm);
    if (needsTableAm && this.#tableAm !== undefined && f.tableAm !== this.#tableAm) {
      f.tableAm = this.#tableAm;
      text += `${this.#tableAm}\n\n`;
    }
    text += `--\n${sep.nameLine}\n--\n\n`;
    this.#emit(e.file, text);
  }

  /** The preamble ends at the first header: it and the frame's rest are every file's start and end. */
  #endPreamble(): void {
    const lines = this.#preamble;
    const kept: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (STARTED.test(lines[i]) && lines[i + 1] === "\n") {
        i++;
        continue;
      }
      kept.push(lines[i]);
    }
    const pre = kept.join("");
    if (!this.#frame.startsWith(pre) || !pre.endsWith("\n")) {
      throw new TocSplitError("the pg_restore preamble differs from the one of an empty list");
    }
    this.#pre = pre;
    this.#post = this.#frame.slice(pre.length);
    this.#preKeyed = new Keyed(this.#pre, this.#streamKey);
    this.#postKeyed = new Keyed(this.#post, this.#streamKey);
    this.#preamble = [];
  }
}
