/**
 * Per-table files from a custom-format dump of one schema or of a group of schemas
 * (lib/backup/group.ts): each table's schema.sql and data.sql (split into parts above the size
 * limit, lib/backup/split.ts), cut locally out of a single `pg_restore -v -L` stream per dump by its
 * TOC entry headers (lib/backup/cutstream.ts). When that stream cannot be split unambiguously, the
 * tables are written again with one pg_restore per file.
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { CopySplitter, splitCopyStream, type SplitResult } from "./split.ts";
import { throwIfInterrupted } from "../base/interrupt.ts";
import { tableDataPath } from "../store/layout.ts";
import type { Manifest, ManifestTable } from "../store/manifest.ts";
import type { PgTools } from "../pg/tools.ts";
import { type PlannedSchema, type PlannedTable, restrictKey } from "./plan.ts";
import { runPool } from "../base/pool.ts";
import { runTool, streamTool } from "../pg/run.ts";
import { FileSink, hashFile, type SyncQueue } from "../store/sink.ts";
import { qualified } from "../pg/ident.ts";
import { assignToTables, parseToc, type TableCatalog, type TableToc, type TocEntry } from "../pg/toc.ts";
import { type SplitEntry, type SplitOutput, TocSplitError, TocStreamSplitter } from "./cutstream.ts";

/** One schema of a {@link TableFilesJob}. */
export interface TableFilesSchema {
  schema: PlannedSchema;
  /** What ties TOC entries to tables, read in the backup's snapshot (the tables come from `schema`). */
  catalog: Omit<TableCatalog, "tables">;
  /** When the dump holds several schemas: the dump ids of this schema's entries. */
  dumpIds?: ReadonlySet<number>;
}

/** The table files to write from one dump. */
export interface TableFilesJob {
  /** The staging directory; manifest paths are relative to it. */
  stagingDir: string;
  maxFileSize: number;
  /** pg_restore runs at a time when writing one file each. */
  jobs: number;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  tools: PgTools;
  /** The schemas whose tables to write (all in the dump). */
  schemas: TableFilesSchema[];
  /** The dump, as a path. */
  dumpFile: string;
  /** What to call the dump in messages. */
  dumpName: string;
  /** A private directory for pg_restore list files. */
  listDir: string;
  /** Whether pg_restore takes `--restrict-key`. */
  restrict: boolean;
  /** The manifest's file list; every file written is added. */
  files: Manifest["files"];
  /** Aborted when a pg_restore fails, to stop the others. */
  local: AbortController;
  /** Called once per table (`schema.table`) when all its files are written. */
  onTable?: (name: string) => void;
  /**
   * Data files are written without fsync and handed to this queue once closed, to be synced in the
   * background while the next ones are written (the caller awaits its drain); otherwise each is
   * synced as it is closed.
   */
  syncs?: SyncQueue;
}

/**
 * One table to write, with its schema. Its TOC lines are not kept (for thousands of tables they are
 * megabytes): the stream's route holds what it needs, and the fallback reads the TOC again.
 */
interface TableJob {
  s: PlannedSchema;
  t: PlannedTable;
  /** Whether the dump has data entries for it (a data.sql to write). */
  hasData: boolean;
  /** Its manifest entry, filled in as its files are written. */
  m: ManifestTable;
  /** Its files written so far. */
  filesDone: number;
  /** Whether onTable was called for it. */
  reported: boolean;
  /** Whether its folder (its schema.sql's and data parts') was made. */
  dirMade?: boolean;
}

/** Makes a table's folder, once: its data parts and its schema.sql are written there. */
function tableDir(job: TableFilesJob, x: TableJob): void {
  if (x.dirMade) return;
  Deno.mkdirSync(join(job.stagingDir, dirname(x.t.schemaFile)), { recursive: true, mode: 0o700 });
  x.dirMade = true;
}

/**
 * Writes every table's files of the job's schemas; returns each schema's manifest entries in plan
 * order.
 */
export async function writeTableFiles(job: TableFilesJob): Promise<Map<string, ManifestTable[]>> {
  const { tables, route } = await readToc(job);
  const report = (x: TableJob) => {
    if (x.reported) return;
    x.reported = true;
    job.onTable?.(`${x.s.name}.${x.t.name}`);
  };
  const written: string[] = [];
  try {
    await splitTables(job, route, { report, written });
  } catch (e) {
    if (!(e instanceof TocSplitError)) throw e;
    const names = job.schemas.map((x) => x.schema.name);
    const which = names.length === 1 ? `schema ${names[0]}` : `schemas ${names.join(", ")}`;
    job.log(`warning: ${which}: ${e.message}; writing its tables with one pg_restore per file`);
    for (const p of written) {
      delete job.files[p];
      await Deno.remove(join(job.stagingDir, p)).catch(() => {});
    }
    const { tocs } = assign(job, await listToc(job));
    const tableTasks = tables.map((x, i) => async () => {
      x.m = await writeTable(job, x, tocs[i]);
      report(x);
    });
    await runPool(tableTasks, job.jobs, () => job.local.abort());
  }
  const result = new Map<string, ManifestTable[]>();
  for (const { schema: s } of job.schemas) result.set(s.name, []);
  for (const x of tables) result.get(x.s.name)!.push(x.m);
  for (const [name, list] of result) sumPartitionRows(name, list);
  return result;
}

/** One file the stream is split into (TocStreamSplitter's file id): a table's schema.sql or data.sql. */
interface FileRoute {
  x: TableJob;
  kind: "schema" | "data";
  restrictKey?: string;
}

/**
 * What routes the one `pg_restore -v -L` stream of a dump to its files: the list (text of the
 * `-L` file), the route of each listed entry, and every file.
 */
interface StreamRoute {
  list: string;
  entries: Map<number, SplitEntry<FileRoute>>;
  files: FileRoute[];
}

/** The dump's TOC (`pg_restore -l`). */
async function listToc(job: TableFilesJob): Promise<TocEntry[]> {
  return parseToc(
    await runTool({
      path: job.tools.path("pg_restore"),
      args: ["-l", job.dumpFile],
      env: {},
      what: `reading ${job.dumpName}`,
    }),
  );
}

/** The job's tables in plan order, each with its TOC lines (`tocs[i]` for `tables[i]`). */
function assign(job: TableFilesJob, toc: TocEntry[]): { tables: TableJob[]; tocs: TableToc[] } {
  const tables: TableJob[] = [];
  const tocs: TableToc[] = [];
  for (const { schema: s, catalog, dumpIds } of job.schemas) {
    const own = dumpIds ? toc.filter((e) => dumpIds.has(e.dumpId)) : toc;
    const assigned = assignToTables(own, s.name, {
      ...catalog,
      tables: new Map(s.tables.map((t) => [t.oid, t.name])),
    });
    for (const t of s.tables) {
      const a = assigned.get(t.oid)!;
      tables.push({ s, t, hasData: a.dataLines.length > 0, m: emptyEntry(t), filesDone: 0, reported: false });
      tocs.push(a);
    }
  }
  return { tables, tocs };
}

/**
 * The dump's TOC, assigned to the job's tables, and the route of its stream. The parsed TOC and the
 * tables' lines are dropped on return: for thousands of tables they are megabytes that nothing needs
 * while the files are written.
 */
async function readToc(job: TableFilesJob): Promise<{ tables: TableJob[]; route: StreamRoute }> {
  const toc = await listToc(job);
  const { tables, tocs } = assign(job, toc);
  return { tables, route: streamRoute(job, toc, tables, tocs) };
}

/** The {@link StreamRoute} of `tables`, whose TOC lines (`tocs`) are among `toc`'s. */
function streamRoute(job: TableFilesJob, toc: TocEntry[], tables: TableJob[], tocs: TableToc[]): StreamRoute {
  const byLine = new Map(toc.map((e) => [e.line, e]));
  // Each table's entries together (definitions, then data), so that its data.sql is written in
  // one stretch; pg_restore follows the list's order within each of its passes.
  const list: string[] = [];
  const entries = new Map<number, SplitEntry<FileRoute>>();
  const files: FileRoute[] = [];
  for (const [i, x] of tables.entries()) {
    const { s, t } = x;
    const a = tocs[i];
    for (const kind of ["schema", "data"] as const) {
      const lines = kind === "schema" ? a.schemaLines : a.dataLines;
      if (kind === "data" && lines.length === 0) continue;
      const file: FileRoute = {
        x,
        kind,
        ...(job.restrict ? { restrictKey: restrictKey(s.name, t.name, kind) } : {}),
      };
      files.push(file);
      for (const line of lines) {
        const e = byLine.get(line)!;
        entries.set(e.dumpId, {
          file,
          desc: e.desc,
          catalogOid: e.catalogOid,
          objectOid: e.objectOid,
          ...(t.kind === "p" ? { noTableAm: true } : {}),
        });
        list.push(line);
      }
    }
  }
  return { list: list.length ? list.join("\n") + "\n" : "", entries, files };
}

/** A table's manifest entry before any of its files is written. */
function emptyEntry(t: PlannedTable): ManifestTable {
  return {
    name: t.name,
    rows: 0,
    schemaFile: t.schemaFile,
    dataFiles: [],
    bytes: 0,
    kind: t.kind,
    ...(t.partitionOf ? { partitionOf: t.partitionOf } : {}),
  };
}

/**
 * Opens data part `n` of `t` for splitCopyStream, noting its path in `parts` (and `written`). The
 * first part is written as data.sql, and renamed to data.001.sql when a second one is opened.
 */
function partOpener(job: TableFilesJob, x: TableJob, parts: string[], written?: string[]) {
  const { s, t } = x;
  return (n: number): Promise<FileSink> => {
    if (n === 2) {
      const first = tableDataPath(s.seg, t.tableSeg, 1);
      Deno.renameSync(join(job.stagingDir, parts[0]), join(job.stagingDir, first));
      parts[0] = first;
      written?.push(first);
    }
    const p = n === 1 ? t.dataFile : tableDataPath(s.seg, t.tableSeg, n);
    parts.push(p);
    written?.push(p);
    tableDir(job, x);
    // Blocking calls: thousands of small files, each call cheaper than handing it to a worker thread.
    return FileSink.open(join(job.stagingDir, p), { sync: !job.syncs, blocking: true, parentMade: true });
  };
}

/** Adds a table's written data parts to the manifest. */
function recordData(job: TableFilesJob, m: ManifestTable, parts: string[], result: SplitResult): void {
  m.rows = result.rows;
  result.parts.forEach((w, i) => {
    job.files[parts[i]] = w;
    m.bytes += w.bytes;
    job.syncs?.add(join(job.stagingDir, parts[i]));
  });
  m.dataFiles.push(...parts);
}

/** A data.sql being written by a CopySplitter from the pieces the splitter routes to it. */
interface DataWriter {
  split: CopySplitter;
  parts: string[];
}

/**
 * The one-stream way: all tables of the dump from a single `pg_restore -v -L` run, routed to
 * their files by TocStreamSplitter. Throws TocSplitError when the stream cannot be split; the
 * files written so far are listed in `track.written`.
 */
async function splitTables(
  job: TableFilesJob,
  route: StreamRoute,
  track: { report: (x: TableJob) => void; written: string[] },
): Promise<void> {
  throwIfInterrupted();
  const { files, stagingDir } = job;
  const signal = job.local.signal;
  const { entries } = route;
  const streamName = job.schemas.map((x) => x.schema.name).join("\u0000");
  const streamKey = job.restrict ? restrictKey(streamName, "stream") : undefined;
  const keyArg = streamKey ? [`--restrict-key=${streamKey}`] : [];
  const base = join(job.listDir, restrictKey(streamName));
  await Deno.writeTextFile(`${base}.empty.list`, "");
  const frame = await runTool({
    path: job.tools.path("pg_restore"),
    args: [...keyArg, "-L", `${base}.empty.list`, "-f", "-", job.dumpFile],
    env: {},
    what: `reading ${job.dumpName}`,
    signal,
  });
  const fileDone = (x: TableJob) => {
    if (++x.filesDone === (x.hasData ? 2 : 1)) track.report(x);
  };
  const schemaBufs = new Map<FileRoute, Uint8Array[]>();
  let data: { file: FileRoute; w: DataWriter } | undefined;
  const openData = async ({ x }: FileRoute): Promise<DataWriter> => {
    const parts: string[] = [];
    const split = await CopySplitter.open(job.maxFileSize, partOpener(job, x, parts, track.written));
    return { split, parts };
  };
  const handle = async (out: SplitOutput<FileRoute>[]) => {
    for (const o of out) {
      const { x, kind } = o.file;
      const { t, m } = x;
      if (kind === "schema") {
        if ("bytes" in o) {
          const list = schemaBufs.get(o.file) ?? [];
          list.push(o.bytes.slice());
          schemaBufs.set(o.file, list);
          continue;
        }
        // Like pg_restore -f before: written whole, without fsync (data files are synced).
        track.written.push(t.schemaFile);
        const bufs = schemaBufs.get(o.file) ?? [];
        schemaBufs.delete(o.file);
        const text = new Uint8Array(bufs.reduce((n, b) => n + b.length, 0));
        bufs.reduce((at, b) => (text.set(b, at), at + b.length), 0);
        // Blocking calls, as for the data files (partOpener); writeFileSync sets the mode exactly.
        tableDir(job, x);
        Deno.writeFileSync(join(stagingDir, t.schemaFile), text, { mode: 0o600 });
        files[t.schemaFile] = { bytes: text.length, sha256: createHash("sha256").update(text).digest("hex") };
        m.bytes += files[t.schemaFile].bytes;
        fileDone(x);
        continue;
      }
      if (data && data.file !== o.file) {
        throw new TocSplitError(`data of ${data.file.x.t.dataFile} and ${t.dataFile} interleave`);
      }
      data ??= { file: o.file, w: await openData(o.file) };
      if ("bytes" in o) {
        await data.w.split.push(o.bytes);
        continue;
      }
      const w = data.w;
      const result = await w.split.finish();
      data = undefined;
      recordData(job, m, w.parts, result);
      fileDone(x);
    }
  };
  const splitter = new TocStreamSplitter<FileRoute>({
    entries,
    files: route.files.map((f) => [f, f] as const),
    frame,
    streamKey,
  });
  route.files = []; // the splitter has them: one list of thousands fewer while the files are written
  if (route.list.length > 0) {
    await Deno.writeTextFile(`${base}.list`, route.list);
    route.list = ""; // megabytes for thousands of tables, not needed once written
    await streamTool(
      {
        path: job.tools.path("pg_restore"),
        args: [...keyArg, "-v", "-L", `${base}.list`, "-f", "-", job.dumpFile],
        env: {},
        what: `writing the tables of ${job.dumpName}`,
        signal,
      },
      async (out) => {
        try {
          for await (const chunk of out) await handle(splitter.push(chunk));
          await handle(splitter.finish());
        } finally {
          data?.w.split.abandon();
        }
      },
    );
  } else {
    await handle(splitter.finishEmpty());
  }
}

/** The fallback: one table's schema.sql and data.sql with one pg_restore each. */
async function writeTable(job: TableFilesJob, x: TableJob, toc: TableToc): Promise<ManifestTable> {
  const { s, t } = x;
  throwIfInterrupted();
  const { stagingDir, files } = job;
  const signal = job.local.signal;
  const base = join(job.listDir, `${t.oid}`);
  await Deno.writeTextFile(`${base}.schema.list`, toc.schemaLines.join("\n") + "\n");
  const schemaArgs = ["-L", `${base}.schema.list`, "-f", join(stagingDir, t.schemaFile), job.dumpFile];
  if (job.restrict) schemaArgs.unshift(`--restrict-key=${restrictKey(s.name, t.name, "schema")}`);
  await Deno.mkdir(join(stagingDir, t.schemaFile, ".."), { recursive: true, mode: 0o700 });
  x.dirMade = true;
  await runTool({
    path: job.tools.path("pg_restore"),
    args: schemaArgs,
    env: {},
    what: `writing ${t.schemaFile}`,
    signal,
  });
  await Deno.chmod(join(stagingDir, t.schemaFile), 0o600);
  files[t.schemaFile] = await hashFile(join(stagingDir, t.schemaFile));
  const m = emptyEntry(t);
  m.bytes += files[t.schemaFile].bytes;
  if (toc.dataLines.length > 0) {
    await Deno.writeTextFile(`${base}.data.list`, toc.dataLines.join("\n") + "\n");
    const dataArgs = ["-L", `${base}.data.list`, "-f", "-", job.dumpFile];
    if (job.restrict) dataArgs.unshift(`--restrict-key=${restrictKey(s.name, t.name, "data")}`);
    const parts: string[] = [];
    const result = await streamTool(
      { path: job.tools.path("pg_restore"), args: dataArgs, env: {}, what: `writing ${t.dataFile}`, signal },
      (out) => splitCopyStream(out, job.maxFileSize, partOpener(job, x, parts)),
    );
    recordData(job, m, parts, result);
  }
  return m;
}

/** A partitioned table holds no rows itself: its count is the sum of its partitions'. */
function sumPartitionRows(schema: string, tables: ManifestTable[]): void {
  const byQualified = new Map(tables.map((t) => [qualified(schema, t.name), t]));
  const childrenOf = new Map<ManifestTable, ManifestTable[]>();
  for (const t of tables) {
    const parent = t.partitionOf ? byQualified.get(t.partitionOf) : undefined;
    if (parent) childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), t]);
  }
  const count = (t: ManifestTable): number =>
    t.kind === "p" ? (childrenOf.get(t) ?? []).reduce((n, c) => n + count(c), 0) : (t.rows ?? 0);
  for (const t of tables) if (t.kind === "p") t.rows = count(t);
}
