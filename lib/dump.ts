/**
 * The backup executor: one snapshot, one custom-format pg_dump per schema (in parallel), roles
 * with pg_dumpall, then per-table schema.sql/data.sql cut out of each schema dump locally from one
 * pg_restore stream per schema (lib/tocsplit.ts). Everything is written into a staging directory
 * and checked against the manifest before the caller puts it in place.
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { connect, resolveIPv4, type Sql } from "./connect.ts";
import { type DbUrl, describeDb, libpqEnv } from "./dburl.ts";
import { detect, type Detected } from "./detect.ts";
import { BackupError } from "./errors.ts";
import { abortSignal, onCleanup, throwIfInterrupted } from "./interrupt.ts";
import { dumpPartPath, tableDataPath } from "./layout.ts";
import type { Manifest, ManifestSchema, ManifestSource, ManifestTable } from "./manifest.ts";
import { MANIFEST_NAME, serializeManifest } from "./manifest.ts";
import { findPgTools, type PgTools, supportsRestrictKey, versionNumber } from "./pgtools.ts";
import { type BackupPlan, pgDumpArgs, planBackup, type PlannedSchema, type PlanOptions } from "./plan.ts";
import { runPool } from "./pool.ts";
import { runTool, streamTool } from "./proc.ts";
import { filterRoles } from "./roles.ts";
import { FileSink, hashFile, type Written } from "./sink.ts";
import { assignToTables, parseToc, type TableToc, type TocEntry } from "./toc.ts";
import { type SplitEntry, type SplitOutput, TocSplitError, TocStreamSplitter } from "./tocsplit.ts";
import { splitCopyStream, type SplitResult } from "./copysplit.ts";
import { MANIFEST_FORMAT, TOOL_VERSION } from "./version.ts";

/** Everything one backup run needs. */
export interface BackupOptions extends PlanOptions {
  url: DbUrl;
  environment?: string;
  ipv4: boolean;
  connectTimeout: number;
  retries: number;
  jobs: number;
  maxFileSize: number;
  pgBin?: string;
  source: ManifestSource;
  /** Where to write (an empty staging directory); unused for a dry run. */
  stagingDir: string;
  dryRun: boolean;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /**
   * Turns the written plaintext files into their stored form (compression, encryption) and returns
   * the manifest to write; absent: files stay as written.
   */
  encode?: (dir: string, m: Manifest) => Promise<Manifest>;
  /** Called after each table is written: (done, total). */
  onTable?: (done: number, total: number, name: string) => void;
  now?: () => Date;
}

/** What a run produced. */
export interface BackupRun {
  plan: BackupPlan;
  detected: Omit<Detected, "owners" | "namedOwners">;
  tools: PgTools;
  /** Absent for a dry run. */
  manifest?: Manifest;
}

/** A deterministic `\restrict` key per file, so unchanged tables give byte-identical files. */
export function restrictKey(...parts: string[]): string {
  return createHash("sha256").update(["supabase-backup", ...parts].join("\u0000")).digest("hex").slice(0, 32);
}

async function openSnapshot(
  sql: Sql,
  log: (l: string) => void,
): Promise<{ conn: Sql & { release(): void }; id?: string; note?: string }> {
  const conn = await sql.reserve() as unknown as Sql & { release(): void };
  const begin = () => conn`begin isolation level repeatable read read only`;
  await begin();
  try {
    // Not inside a savepoint: PostgreSQL refuses to export a snapshot from a subtransaction.
    const [{ id }] = await conn<{ id: string }[]>`select pg_export_snapshot() as id`;
    return { conn, id };
  } catch (e) {
    await conn`rollback`.catch(() => {});
    await begin();
    const note = `no exported snapshot (${
      (e as Error).message.split("\n")[0]
    }); each schema is dumped in its own snapshot`;
    log(`warning: ${note}`);
    return { conn, note };
  }
}

/** Runs one backup into `opts.stagingDir` (or only plans it for a dry run). */
export async function runBackup(opts: BackupOptions): Promise<BackupRun> {
  const started = Date.now();
  const now = opts.now?.() ?? new Date();
  const hostaddr = opts.ipv4 ? await resolveIPv4(opts.url.host) : undefined;
  const sql = await connect(opts.url, {
    hostaddr,
    connectTimeout: opts.connectTimeout,
    retries: opts.retries,
    log: opts.log,
  }, 1);
  const closeSql = () => sql.end({ timeout: 2 }).catch(() => {});
  const unregister = onCleanup(() => void closeSql());
  try {
    const snap = await openSnapshot(sql, opts.log);
    const endSnapshot = async (how: "commit" | "rollback") => {
      await (how === "commit" ? snap.conn`commit` : snap.conn`rollback`).catch(() => {});
      snap.conn.release();
    };
    const detected = await detect(snap.conn);
    const serverMajor = Math.floor(detected.serverVersionNum / 10000);
    const tools = await findPgTools({ minMajor: serverMajor, pgBin: opts.pgBin });
    opts.log(
      `server ${detected.serverVersion}, pg_dump ${versionNumber(tools.version.text)} from ${tools.dir}`,
    );
    const plan = planBackup(detected, opts, now);
    const { owners: _o, namedOwners: _n, ...info } = detected;
    if (opts.dryRun) {
      await endSnapshot("rollback");
      return { plan, detected: info, tools };
    }
    const env = libpqEnv(opts.url, { hostaddr, connectTimeout: opts.connectTimeout });
    let manifest = await writeBackup(opts, plan, detected, tools, env, snap.id);
    await endSnapshot("commit");
    if (opts.encode) manifest = await opts.encode(opts.stagingDir, manifest);
    manifest.snapshot = snap.id ? { consistent: true, id: snap.id } : { consistent: false, note: snap.note };
    manifest.durationMs = Date.now() - started;
    await Deno.writeTextFile(join(opts.stagingDir, MANIFEST_NAME), serializeManifest(manifest), {
      mode: 0o600,
    });
    await checkStaging(opts.stagingDir, manifest);
    return { plan, detected: info, tools, manifest };
  } finally {
    unregister();
    await closeSql();
  }
}

async function writeBackup(
  opts: BackupOptions,
  plan: BackupPlan,
  detected: Detected,
  tools: PgTools,
  env: Record<string, string>,
  snapshot: string | undefined,
): Promise<Manifest> {
  const files: Manifest["files"] = {};
  const local = new AbortController();
  const stop = () => local.abort();
  abortSignal.addEventListener("abort", stop, { once: true });
  const restrict = supportsRestrictKey(tools.version);
  const listDir = await Deno.makeTempDir({ prefix: "supabase-backup-toc-" });
  const dropListDir = onCleanup(() => Deno.removeSync(listDir, { recursive: true }));
  const total = plan.schemas.reduce((n, s) => n + s.tables.length, 0);
  let done = 0;
  const roleSet = new Set(detected.roles);
  try {
    const rolesTask = async () => {
      const args = ["--roles-only", "--no-role-passwords", "--no-password"];
      if (restrict) args.push(`--restrict-key=${restrictKey("roles")}`);
      const out = await runTool({
        path: tools.path("pg_dumpall"),
        args,
        env,
        what: "pg_dumpall --roles-only",
        signal: local.signal,
      });
      const sink = await FileSink.open(join(opts.stagingDir, plan.roles));
      await sink.write(new TextEncoder().encode(filterRoles(out).sql));
      files[plan.roles] = await sink.close();
    };
    const schemaTask = (s: PlannedSchema) => async (): Promise<ManifestSchema> => {
      throwIfInterrupted();
      const dumpFile = join(opts.stagingDir, s.dump);
      await Deno.mkdir(join(opts.stagingDir, s.seg), { recursive: true, mode: 0o700 });
      await runTool({
        path: tools.path("pg_dump"),
        args: pgDumpArgs(s, dumpFile, tools.version.major, snapshot),
        env,
        what: `pg_dump of schema ${s.name}`,
        signal: local.signal,
      });
      await Deno.chmod(dumpFile, 0o600);
      opts.log(`dumped schema ${s.name}`);
      const toc = parseToc(
        await runTool({
          path: tools.path("pg_restore"),
          args: ["-l", dumpFile],
          env: {},
          what: `reading ${s.dump}`,
        }),
      );
      const tables = new Map<number, string>(s.tables.map((t) => [t.oid, t.name]));
      const assigned = assignToTables(toc, s.name, {
        tables,
        owners: detected.owners,
        namedOwners: detected.namedOwners.get(s.name) ?? new Map(),
        roles: roleSet,
      });
      const written = await writeTables(
        opts,
        tools,
        dumpFile,
        listDir,
        s,
        toc,
        assigned,
        restrict,
        files,
        local,
        () => {
          done++;
          return done;
        },
        total,
      );
      sumPartitionRows(s.name, written);
      const parts = await splitDump(opts.stagingDir, s.dump, opts.maxFileSize);
      let dumpBytes = 0;
      for (const p of parts) {
        files[p] = await hashFile(join(opts.stagingDir, p));
        dumpBytes += files[p].bytes;
      }
      return {
        name: s.name,
        dump: parts[0],
        ...(parts.length > 1 ? { dumpParts: parts } : {}),
        dumpBytes,
        managed: s.managed,
        tables: written,
      };
    };
    const tasks: (() => Promise<ManifestSchema | void>)[] = [rolesTask, ...plan.schemas.map(schemaTask)];
    const results = await runPool(tasks, opts.jobs, stop);
    const schemas = results.slice(1) as ManifestSchema[];
    return {
      format: MANIFEST_FORMAT,
      createdAt: plan.createdAt.toISOString(),
      tool: `supabase-backup ${TOOL_VERSION}`,
      ...(opts.environment ? { environment: opts.environment } : {}),
      source: opts.source,
      database: {
        name: detected.database,
        serverVersion: detected.serverVersion,
        sizeBytes: detected.sizeBytes,
        host: describeDb(opts.url),
      },
      pgDumpVersion: tools.version.text,
      snapshot: { consistent: !!snapshot },
      status: plan.skipped.length > 0 || plan.skippedSchemas.length > 0 ? "partial" : "ok",
      roles: plan.roles,
      schemas,
      ...(plan.extensions.length ? { extensions: plan.extensions } : {}),
      skipped: [
        ...plan.skipped,
        ...plan.skippedSchemas.map((s) => ({ schema: s.schema, table: "*", reason: s.reason })),
      ],
      files,
      durationMs: 0,
    };
  } finally {
    abortSignal.removeEventListener("abort", stop);
    dropListDir();
    await Deno.remove(listDir, { recursive: true }).catch(() => {});
  }
}

/**
 * Writes every table's schema.sql and data.sql of one schema from a single `pg_restore -v -L`
 * stream, split by TOC entry headers (lib/tocsplit.ts). Falls back to one pg_restore per file
 * when the stream cannot be split unambiguously.
 */
async function writeTables(
  opts: BackupOptions,
  tools: PgTools,
  dumpFile: string,
  listDir: string,
  s: PlannedSchema,
  toc: TocEntry[],
  assigned: Map<number, TableToc>,
  restrict: boolean,
  files: Manifest["files"],
  local: AbortController,
  next: () => number,
  total: number,
): Promise<ManifestTable[]> {
  const reported = new Set<number>();
  const report = (t: PlannedSchema["tables"][number]) => {
    if (reported.has(t.oid)) return;
    reported.add(t.oid);
    opts.onTable?.(next(), total, `${s.name}.${t.name}`);
  };
  const written: string[] = [];
  try {
    return await splitTables(
      opts,
      tools,
      dumpFile,
      listDir,
      s,
      toc,
      assigned,
      restrict,
      files,
      local.signal,
      {
        report,
        written,
      },
    );
  } catch (e) {
    if (!(e instanceof TocSplitError)) throw e;
    opts.log(`warning: schema ${s.name}: ${e.message}; writing its tables with one pg_restore per file`);
    for (const p of written) {
      delete files[p];
      await Deno.remove(join(opts.stagingDir, p)).catch(() => {});
    }
  }
  const tableTasks = s.tables.map((t) => async (): Promise<ManifestTable> => {
    const entry = await writeTable(
      opts,
      tools,
      dumpFile,
      listDir,
      s,
      t,
      assigned.get(t.oid)!,
      restrict,
      files,
      local.signal,
    );
    report(t);
    return entry;
  });
  return await runPool(tableTasks, opts.jobs, () => local.abort());
}

/** A data.sql being written by splitCopyStream from the pieces the splitter routes to it. */
interface DataWriter {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  done: Promise<SplitResult>;
  parts: string[];
}

async function splitTables(
  opts: BackupOptions,
  tools: PgTools,
  dumpFile: string,
  listDir: string,
  s: PlannedSchema,
  toc: TocEntry[],
  assigned: Map<number, TableToc>,
  restrict: boolean,
  files: Manifest["files"],
  signal: AbortSignal,
  track: { report: (t: PlannedSchema["tables"][number]) => void; written: string[] },
): Promise<ManifestTable[]> {
  throwIfInterrupted();
  const byLine = new Map(toc.map((e) => [e.line, e]));
  const streamKey = restrict ? restrictKey(s.name, "stream") : undefined;
  const keyArg = streamKey ? [`--restrict-key=${streamKey}`] : [];
  const base = join(listDir, restrictKey(s.name));
  await Deno.writeTextFile(`${base}.empty.list`, "");
  const frame = await runTool({
    path: tools.path("pg_restore"),
    args: [...keyArg, "-L", `${base}.empty.list`, "-f", "-", dumpFile],
    env: {},
    what: `reading ${s.dump}`,
    signal,
  });
  // Each table's entries together (definitions, then data), so that its data.sql is written in
  // one stretch; pg_restore follows the list's order within each of its passes.
  const list: string[] = [];
  const entries = new Map<number, SplitEntry>();
  const fileKeys = new Map<string, { restrictKey?: string }>();
  const byFile = new Map<string, { t: PlannedSchema["tables"][number]; kind: "schema" | "data" }>();
  for (const t of s.tables) {
    const a = assigned.get(t.oid)!;
    for (const kind of ["schema", "data"] as const) {
      const lines = kind === "schema" ? a.schemaLines : a.dataLines;
      if (kind === "data" && lines.length === 0) continue;
      const file = `${t.oid}:${kind}`;
      fileKeys.set(file, restrict ? { restrictKey: restrictKey(s.name, t.name, kind) } : {});
      byFile.set(file, { t, kind });
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
  const results = new Map<number, ManifestTable>();
  for (const t of s.tables) {
    results.set(t.oid, {
      name: t.name,
      rows: 0,
      schemaFile: t.schemaFile,
      dataFiles: [],
      bytes: 0,
      kind: t.kind,
      ...(t.partitionOf ? { partitionOf: t.partitionOf } : {}),
    });
  }
  const finished = new Map<number, number>();
  const fileDone = (t: PlannedSchema["tables"][number]) => {
    const n = (finished.get(t.oid) ?? 0) + 1;
    finished.set(t.oid, n);
    if (n === (assigned.get(t.oid)!.dataLines.length > 0 ? 2 : 1)) track.report(t);
  };
  const schemaBufs = new Map<string, Uint8Array[]>();
  let data: { file: string; w: DataWriter } | undefined;
  const openData = (file: string): DataWriter => {
    const { t } = byFile.get(file)!;
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    const parts: string[] = [];
    const done = splitCopyStream(pipe.readable, opts.maxFileSize, (n) => {
      const p = tableDataPath(s.seg, t.tableSeg, n);
      parts.push(p);
      track.written.push(p);
      return FileSink.open(join(opts.stagingDir, p));
    });
    done.catch(() => {});
    return { writer: pipe.writable.getWriter(), done, parts };
  };
  const handle = async (out: SplitOutput[]) => {
    for (const o of out) {
      const { t, kind } = byFile.get(o.file)!;
      const m = results.get(t.oid)!;
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
        const path = join(opts.stagingDir, t.schemaFile);
        await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
        await Deno.writeFile(path, text, { mode: 0o600 });
        await Deno.chmod(path, 0o600);
        files[t.schemaFile] = { bytes: text.length, sha256: createHash("sha256").update(text).digest("hex") };
        m.bytes += files[t.schemaFile].bytes;
        fileDone(t);
        continue;
      }
      if (data && data.file !== o.file) {
        throw new TocSplitError(`data of ${data.file} and ${o.file} interleave`);
      }
      data ??= { file: o.file, w: openData(o.file) };
      if ("bytes" in o) {
        const w = data.w;
        // a failed write means splitCopyStream stopped: its own error says why
        await w.writer.write(o.bytes).catch(async (e) => {
          await w.done;
          throw e;
        });
        continue;
      }
      const w = data.w;
      data = undefined;
      await w.writer.close();
      const result = await w.done;
      m.rows = result.rows;
      if (w.parts.length === 1) {
        await Deno.rename(join(opts.stagingDir, w.parts[0]), join(opts.stagingDir, t.dataFile));
        track.written.push(t.dataFile);
        w.parts[0] = t.dataFile;
      }
      result.parts.forEach((wr: Written, i) => {
        files[w.parts[i]] = wr;
        m.bytes += wr.bytes;
      });
      m.dataFiles.push(...w.parts);
      fileDone(t);
    }
  };
  if (list.length > 0) {
    await Deno.writeTextFile(`${base}.list`, list.join("\n") + "\n");
    const splitter = new TocStreamSplitter({ entries, files: fileKeys, frame, streamKey });
    await streamTool(
      {
        path: tools.path("pg_restore"),
        args: [...keyArg, "-v", "-L", `${base}.list`, "-f", "-", dumpFile],
        env: {},
        what: `writing the tables of ${s.dump}`,
        signal,
      },
      async (out) => {
        try {
          for await (const chunk of out) await handle(splitter.push(chunk));
          await handle(splitter.finish());
        } finally {
          if (data) await data.w.writer.abort().catch(() => {});
        }
      },
    );
  } else {
    const splitter = new TocStreamSplitter({ entries, files: fileKeys, frame, streamKey });
    await handle(splitter.finishEmpty());
  }
  return s.tables.map((t) => results.get(t.oid)!);
}

async function writeTable(
  opts: BackupOptions,
  tools: PgTools,
  dumpFile: string,
  listDir: string,
  s: PlannedSchema,
  t: PlannedSchema["tables"][number],
  toc: TableToc,
  restrict: boolean,
  files: Manifest["files"],
  signal: AbortSignal,
): Promise<ManifestTable> {
  throwIfInterrupted();
  const base = join(listDir, `${t.oid}`);
  await Deno.writeTextFile(`${base}.schema.list`, toc.schemaLines.join("\n") + "\n");
  const schemaArgs = ["-L", `${base}.schema.list`, "-f", join(opts.stagingDir, t.schemaFile), dumpFile];
  if (restrict) schemaArgs.unshift(`--restrict-key=${restrictKey(s.name, t.name, "schema")}`);
  await Deno.mkdir(join(opts.stagingDir, t.schemaFile, ".."), { recursive: true, mode: 0o700 });
  await runTool({
    path: tools.path("pg_restore"),
    args: schemaArgs,
    env: {},
    what: `writing ${t.schemaFile}`,
    signal,
  });
  await Deno.chmod(join(opts.stagingDir, t.schemaFile), 0o600);
  files[t.schemaFile] = await hashFile(join(opts.stagingDir, t.schemaFile));
  let bytes = files[t.schemaFile].bytes;
  const dataFiles: string[] = [];
  let rows: number | null = 0;
  if (toc.dataLines.length > 0) {
    await Deno.writeTextFile(`${base}.data.list`, toc.dataLines.join("\n") + "\n");
    const dataArgs = ["-L", `${base}.data.list`, "-f", "-", dumpFile];
    if (restrict) dataArgs.unshift(`--restrict-key=${restrictKey(s.name, t.name, "data")}`);
    const partPaths: string[] = [];
    const result = await streamTool(
      { path: tools.path("pg_restore"), args: dataArgs, env: {}, what: `writing ${t.dataFile}`, signal },
      (out) =>
        splitCopyStream(out, opts.maxFileSize, (n) => {
          const p = tableDataPath(s.seg, t.tableSeg, n);
          partPaths.push(p);
          return FileSink.open(join(opts.stagingDir, p));
        }),
    );
    rows = result.rows;
    if (partPaths.length === 1) {
      await Deno.rename(join(opts.stagingDir, partPaths[0]), join(opts.stagingDir, t.dataFile));
      partPaths[0] = t.dataFile;
    }
    result.parts.forEach((w: Written, i) => {
      files[partPaths[i]] = w;
      bytes += w.bytes;
    });
    dataFiles.push(...partPaths);
  }
  return {
    name: t.name,
    rows,
    schemaFile: t.schemaFile,
    dataFiles,
    bytes,
    kind: t.kind,
    ...(t.partitionOf ? { partitionOf: t.partitionOf } : {}),
  };
}

/** A partitioned table holds no rows itself: its count is the sum of its partitions'. */
function sumPartitionRows(schema: string, tables: ManifestTable[]): void {
  const quote = (n: string) => /^[a-z_][a-z0-9_$]*$/.test(n) ? n : `"${n.replaceAll('"', '""')}"`;
  const byQualified = new Map(tables.map((t) => [`${quote(schema)}.${quote(t.name)}`, t]));
  const childrenOf = new Map<ManifestTable, ManifestTable[]>();
  for (const t of tables) {
    const parent = t.partitionOf ? byQualified.get(t.partitionOf) : undefined;
    if (parent) childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), t]);
  }
  const count = (t: ManifestTable): number =>
    t.kind === "p" ? (childrenOf.get(t) ?? []).reduce((n, c) => n + count(c), 0) : (t.rows ?? 0);
  for (const t of tables) if (t.kind === "p") t.rows = count(t);
}

/** Splits a dump larger than `max` into numbered chunks; returns the file list in order. */
async function splitDump(dir: string, dump: string, max: number): Promise<string[]> {
  const path = join(dir, dump);
  const size = (await Deno.stat(path)).size;
  if (size <= max) return [dump];
  const parts: string[] = [];
  const src = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(Math.min(max, 8 << 20));
    let n = 0;
    let sink: FileSink | undefined;
    for (;;) {
      const want = sink ? Math.min(buf.length, max - sink.bytes) : buf.length;
      const read = await src.read(buf.subarray(0, want));
      if (read === null) break;
      if (!sink) {
        const p = dumpPartPath(dump, ++n);
        parts.push(p);
        sink = await FileSink.open(join(dir, p));
      }
      await sink.write(buf.subarray(0, read));
      if (sink.bytes >= max) {
        await sink.close();
        sink = undefined;
      }
    }
    if (sink) await sink.close();
  } finally {
    src.close();
  }
  await Deno.remove(path);
  return parts;
}

/**
 * Checks the staging directory against the manifest: every listed file present with its size and
 * checksum (of its stored form when encoded), and no file that the manifest does not list. Throws
 * naming the first bad file.
 */
export async function checkStaging(dir: string, m: Manifest): Promise<void> {
  const listed = new Set(Object.keys(m.files));
  for (const [rel, want] of Object.entries(m.files)) {
    let got: Written;
    try {
      got = await hashFile(join(dir, rel));
    } catch {
      throw new BackupError(`backup check failed: ${rel} is missing`, {
        hint: "check free disk space and run again",
      });
    }
    const stored = want.stored ?? want;
    if (got.bytes !== stored.bytes || got.sha256 !== stored.sha256) {
      throw new BackupError(`backup check failed: ${rel} does not match what was written`, {
        hint: "the disk or file system changed the file; check free space and run again",
      });
    }
  }
  const extra: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(join(dir, rel))) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(p);
      else if (p !== MANIFEST_NAME && !listed.has(p)) extra.push(p);
    }
  };
  await walk("");
  if (extra.length > 0) {
    throw new BackupError(`backup check failed: unexpected file ${extra[0]}`, {
      hint: "report this as a bug",
    });
  }
}
