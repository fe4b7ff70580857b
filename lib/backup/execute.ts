/**
 * The backup executor: one snapshot (lib/pg/snapshot.ts), roles with pg_dumpall, the
 * whole-database catalog (schema-only, user mappings cut out: lib/backup/catalog.ts) and one
 * custom-format pg_dump per schema, in parallel, then each schema's per-table files
 * (lib/backup/cut.ts). Everything is written into a staging directory and checked against the
 * manifest (lib/store/staging.ts) before the caller puts it in place.
 * @module
 */
import { join } from "node:path";
import { openDb, type Sql } from "../pg/connect.ts";
import { type DbUrl, describeDb } from "../pg/url.ts";
import { detect, type Detected } from "../pg/detect.ts";
import { abortSignal, onCleanup, throwIfInterrupted } from "../base/interrupt.ts";
import type {
  Manifest,
  ManifestSchema,
  ManifestSource,
  ManifestStorage,
  ManifestTable,
} from "../store/manifest.ts";
import { MANIFEST_NAME, manifestText } from "../store/manifest.ts";
import {
  findPgTools,
  parseServerVersionNum,
  type PgTools,
  supportsRestrictKey,
  versionNumber,
} from "../pg/tools.ts";
import {
  type BackupPlan,
  notCaptured,
  pgDumpArgs,
  pgDumpCatalogArgs,
  pgDumpSliceArgs,
  planBackup,
  type PlannedSchema,
  type PlanOptions,
  planTotals,
  restrictKey,
} from "./plan.ts";
import { runPool } from "../base/pool.ts";
import { runTool, streamTool } from "../pg/run.ts";
import { filterRoles } from "./roles.ts";
import { FileSink, hashFile, SyncQueue } from "../store/sink.ts";
import { openSnapshot } from "../pg/snapshot.ts";
import { checkStaging, splitDump } from "../store/staging.ts";
import { type TableFilesSchema, writeTableFiles } from "./cut.ts";
import { UserMappingCutter } from "./catalog.ts";
import { MANIFEST_FORMAT, TOOL_VERSION } from "../base/version.ts";
import { ArchiveError, readArchive, writeArchive } from "../pg/archive.ts";
import { planGroups, routeEntries, schemaWeight } from "./group.ts";
import {
  bestRoundTrip,
  mergeSlices,
  NETWORK_BOUND_RTT_MS,
  planSlices,
  sliceCount,
  slicePatterns,
} from "./slice.ts";

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
  /** Storage files (`--storage`, lib/storage): read in the snapshot, fetched while the dump runs. */
  storage?: StorageStep;
  /** pg_dump's `--compress` for the schema dumps; default {@link dumpCompression} of the tools. */
  dumpCompression?: string;
  now?: () => Date;
}

/** The Storage part of a backup, as the executor sees it. */
export interface StorageStep {
  /** Reads the buckets and objects through the snapshot connection (also for a dry run). */
  read(conn: Sql): Promise<void>;
  /**
   * Fetches the files and writes the map into `stagingDir`; returns its file entries and summary.
   * Starts no new download once `stop` is aborted (the dump failed), and then rejects.
   */
  write(
    stagingDir: string,
    stop?: AbortSignal,
  ): Promise<{ files: Manifest["files"]; storage: ManifestStorage }>;
}

/** What a run produced. */
export interface BackupRun {
  plan: BackupPlan;
  detected: Omit<Detected, "owners" | "namedOwners">;
  tools: PgTools;
  /** Absent for a dry run. */
  manifest?: Manifest;
}

/** Runs one backup into `opts.stagingDir` (or only plans it for a dry run). */
export async function runBackup(opts: BackupOptions): Promise<BackupRun> {
  const started = Date.now();
  const now = opts.now?.() ?? new Date();
  const db = await openDb(opts.url, {
    ipv4: opts.ipv4,
    connectTimeout: opts.connectTimeout,
    retries: opts.retries,
    log: opts.log,
    max: 1,
  });
  try {
    const snap = await openSnapshot(db.sql, opts.log);
    const detected = await detect(snap.conn);
    const serverMajor = parseServerVersionNum(detected.serverVersionNum).major;
    // the pg_dump lookup (a few `pg_dump --version` runs) goes on while the Storage list is read
    // and the first files download; its error still fails the run before anything is dumped
    const lookup = findPgTools({ minMajor: serverMajor, pgBin: opts.pgBin });
    lookup.catch(() => {}); // awaited below (a planning error may come first)
    const plan = planBackup(detected, opts, now);
    const { owners: _o, namedOwners: _n, ...info } = detected;
    await opts.storage?.read(snap.conn);
    const found = async () => {
      const tools = await lookup;
      opts.log(
        `server ${detected.serverVersion}, pg_dump ${versionNumber(tools.version.text)} from ${tools.dir}`,
      );
      return tools;
    };
    if (opts.dryRun) {
      const tools = await found();
      await snap.end("rollback");
      return { plan, detected: info, tools };
    }
    // the files are fetched while the dump runs (the list was read in the snapshot, above)
    const stopFiles = new AbortController();
    const files = opts.storage?.write(opts.stagingDir, stopFiles.signal);
    files?.catch(() => {}); // awaited below, or dropped when the dump fails first
    let manifest: Manifest;
    let tools: PgTools;
    try {
      tools = await found();
      const rttMs = await roundTrip(snap.conn);
      manifest = await writeBackup(opts, plan, detected, tools, db.env, snap.id, rttMs);
    } catch (e) {
      stopFiles.abort(e);
      await files?.catch(() => {});
      throw e;
    }
    await snap.end("commit");
    if (files) {
      const s = await files;
      Object.assign(manifest.files, s.files);
      manifest.storage = s.storage;
    }
    if (opts.encode) manifest = await opts.encode(opts.stagingDir, manifest);
    manifest.snapshot = snap.id ? { consistent: true, id: snap.id } : { consistent: false, note: snap.note };
    manifest.durationMs = Date.now() - started;
    // Written in pieces: the manifest of thousands of tables is megabytes of text. With blocking
    // calls: handed to worker threads, its writes of up to 1 MiB each raised the resident memory by
    // 7-18 MB at the end of a 5,000-table backup, where its peak was (docs/performance.md); nothing
    // else runs by now.
    const text = await FileSink.open(join(opts.stagingDir, MANIFEST_NAME), { sync: false, blocking: true });
    const enc = new TextEncoder();
    for (const piece of manifestText(manifest)) await text.write(enc.encode(piece));
    await text.close();
    await checkStaging(opts.stagingDir, manifest);
    return { plan, detected: info, tools, manifest };
  } finally {
    await db.close();
  }
}

/**
 * The database's round trip on `conn`, in milliseconds: `select 1` timed by {@link bestRoundTrip},
 * with pauses of {@link RTT_PAUSE_MS} between the spaced-out samples.
 */
function roundTrip(conn: Sql): Promise<number> {
  return bestRoundTrip(async () => {
    const t = performance.now();
    await conn`select 1`;
    return performance.now() - t;
  }, () => new Promise((ok) => setTimeout(ok, RTT_PAUSE_MS)));
}

/** The pause before each spaced-out round trip (a few scheduler time slices on a busy machine). */
const RTT_PAUSE_MS = 5;

/**
 * Writes roles.sql, catalog.sql and every schema's dump and table files into the staging
 * directory; returns the manifest (snapshot and duration are filled in by the caller). `rttMs` is
 * the database's round trip (lib/backup/slice.ts: how many ways a schema's data is read).
 */
async function writeBackup(
  opts: BackupOptions,
  plan: BackupPlan,
  detected: Detected,
  tools: PgTools,
  env: Record<string, string>,
  snapshot: string | undefined,
  rttMs: number,
): Promise<Manifest> {
  // Every file in UTF-8, whatever the database's encoding (the server converts, losslessly): names
  // then read the same in pg_restore's listings, the dumps' text and the catalog queries, and a restore
  // converts to its target's encoding. A SQL_ASCII database has no encoding to convert from: its bytes
  // are written as they are (lib/pg/inputtext.ts reads them so).
  if (detected.encoding !== "SQL_ASCII") env = { ...env, PGCLIENTENCODING: "UTF8" };
  const files: Manifest["files"] = {};
  const local = new AbortController();
  const stop = () => local.abort();
  abortSignal.addEventListener("abort", stop, { once: true });
  const restrict = supportsRestrictKey(tools.version);
  const listDir = await Deno.makeTempDir({ prefix: "supabase-backup-toc-" });
  const dropListDir = onCleanup(() => Deno.removeSync(listDir, { recursive: true }));
  const total = planTotals(plan).tables;
  let done = 0;
  const roleSet = new Set(detected.roles);
  const syncs = new SyncQueue();
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
    let dumped = new Set<string>();
    const catalogTask = async () => {
      const key = restrict ? restrictKey("catalog") : undefined;
      // Cut as it is read: the catalog of thousands of tables is megabytes of text.
      const cut = new UserMappingCutter();
      const sink = await FileSink.open(join(opts.stagingDir, plan.catalog.file));
      try {
        await streamTool({
          path: tools.path("pg_dump"),
          args: pgDumpCatalogArgs(plan.catalog, snapshot, key),
          env,
          what: "pg_dump --schema-only of the whole database (catalog.sql)",
          signal: local.signal,
        }, async (out) => {
          const dec = new TextDecoder(); // as runTool read it
          const enc = new TextEncoder();
          for await (const chunk of out) {
            await sink.write(enc.encode(cut.push(dec.decode(chunk, { stream: true }))));
          }
          await sink.write(enc.encode(cut.push(dec.decode()) + cut.end()));
        });
      } catch (e) {
        sink.abandon();
        throw e;
      }
      files[plan.catalog.file] = await sink.close();
      dumped = cut.entries;
      opts.log(`dumped the catalog${cut.cut ? ` (${cut.cut} user mapping(s) left out)` : ""}`);
    };
    /** pg_dump of one schema alone, into its dump file (its slices' data merged in). */
    const dumpAlone = async (s: PlannedSchema) => {
      throwIfInterrupted();
      await Deno.mkdir(join(opts.stagingDir, s.seg), { recursive: true, mode: 0o700 });
      const dumpFile = join(opts.stagingDir, s.dump);
      const mySlices = slices.get(s.name) ?? [];
      const sliced = mySlices.flatMap((x) => x.patterns);
      const main = sliced.length ? join(opts.stagingDir, `.main-${s.seg}.dump`) : dumpFile;
      const temps = [main, ...mySlices.map((x) => x.path)].filter((p) => p !== dumpFile);
      const drop = onCleanup(() => temps.forEach((p) => Deno.removeSync(p)));
      try {
        await runTool({
          path: tools.path("pg_dump"),
          args: pgDumpArgs(s, main, tools.version.major, snapshot, opts.dumpCompression, sliced),
          env,
          what: `pg_dump of schema ${s.name}`,
          signal: local.signal,
        });
        if (!sliced.length) return;
        for (const x of mySlices) await x.done;
        const archive = await readArchive(main);
        const parts = await Promise.all(
          mySlices.map(async (x) => ({ path: x.path, archive: await readArchive(x.path) })),
        );
        await writeArchive(main, archive, mergeSlices(archive, parts), dumpFile);
      } finally {
        drop();
        for (const p of temps) await Deno.remove(p).catch(() => {});
      }
    };
    const tableSchema = (s: PlannedSchema, dumpIds?: ReadonlySet<number>) => ({
      schema: s,
      catalog: {
        owners: detected.owners,
        namedOwners: detected.namedOwners.get(s.name) ?? new Map(),
        roles: roleSet,
      },
      ...(dumpIds ? { dumpIds } : {}),
    });
    /** The table files of `schemas`, all from the dump `dumpFile`. */
    const tableFiles = (schemas: TableFilesSchema[], dumpFile: string, dumpName: string) =>
      writeTableFiles({
        stagingDir: opts.stagingDir,
        maxFileSize: opts.maxFileSize,
        jobs: opts.jobs,
        log: opts.log,
        tools,
        schemas,
        dumpFile,
        dumpName,
        listDir,
        restrict,
        files,
        local,
        onTable: (name) => opts.onTable?.(++done, total, name),
        syncs,
      });
    /**
     * One pg_dump over the group's schemas, its archive cut into each schema's dump file; the
     * table files come from the group's archive, in one stream.
     */
    const dumpTogether = async (group: PlannedSchema[], n: number) => {
      throwIfInterrupted();
      const whole = join(opts.stagingDir, `.group-${n}.dump`);
      const drop = onCleanup(() => Deno.removeSync(whole));
      try {
        await runTool({
          path: tools.path("pg_dump"),
          args: pgDumpArgs(group, whole, tools.version.major, snapshot, opts.dumpCompression),
          env,
          what: `pg_dump of schemas ${group.map((s) => s.name).join(", ")}`,
          signal: local.signal,
        });
        const archive = await readArchive(whole);
        const routed = routeEntries(archive.entries, group.map((s) => s.name), extensionSchema);
        for (const s of group) {
          await Deno.mkdir(join(opts.stagingDir, s.seg), { recursive: true, mode: 0o700 });
          await writeArchive(whole, archive, routed.get(s.name)!, join(opts.stagingDir, s.dump));
          await Deno.chmod(join(opts.stagingDir, s.dump), 0o600);
          opts.log(`dumped schema ${s.name}`);
        }
        return await tableFiles(
          group.map((s) => tableSchema(s, new Set(routed.get(s.name)!.map((r) => r.entry.dumpId)))),
          whole,
          `the dump of schemas ${group.map((s) => s.name).join(", ")}`,
        );
      } finally {
        drop();
        await Deno.remove(whole).catch(() => {});
      }
    };
    /** One schema on its own: its pg_dump, then its table files from that dump. */
    const dumpOne = async (s: PlannedSchema) => {
      await dumpAlone(s);
      const dumpFile = join(opts.stagingDir, s.dump);
      await Deno.chmod(dumpFile, 0o600);
      opts.log(`dumped schema ${s.name}`);
      return (await tableFiles([tableSchema(s)], dumpFile, s.dump)).get(s.name)!;
    };
    /** A schema's dump parts and manifest entry, once its dump and table files are written. */
    const finishSchema = async (s: PlannedSchema, written: ManifestTable[]): Promise<ManifestSchema> => {
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
    const extensionSchema = new Map(detected.extensions.map((e) => [e.name, e.schema]));
    const byName = new Map(plan.schemas.map((s) => [s.name, s]));
    const tablesOf = Map.groupBy(detected.tables, (t) => t.schema);
    const groups = planGroups(
      plan.schemas.map((s) => ({ name: s.name, weight: schemaWeight(tablesOf.get(s.name) ?? []) })),
      opts.jobs,
    ).map((names) => names.map((n) => byName.get(n)!));
    const schemaResults = new Map<string, ManifestSchema>();
    // A schema alone in its group whose share of the work is more than one job's: its data is also
    // read by --data-only pg_dumps of some of its tables (slices), over connections of their own.
    const weights = new Map(groups.flat().map((s) => [s.name, schemaWeight(tablesOf.get(s.name) ?? [])]));
    const totalWeight = [...weights.values()].reduce((a, b) => a + b, 0);
    const bytesOf = new Map(detected.tables.map((t) => [t.oid, t.bytes ?? 0]));
    const slices = new Map<
      string,
      { names: string[]; patterns: string[]; path: string; done: Promise<void> }[]
    >();
    const sliceTasks: (() => Promise<void>)[] = [];
    for (const [s] of snapshot ? groups.filter((g) => g.length === 1) : []) {
      const data = s.tables.filter((t) => t.kind === "r").map((t) => ({
        name: t.name,
        bytes: bytesOf.get(t.oid)!,
      }));
      const bytes = data.reduce((n, t) => n + t.bytes, 0);
      const count = sliceCount(weights.get(s.name)!, totalWeight, opts.jobs, data.length, bytes, rttMs);
      // Every table of the schema in the catalog, also those the plan leaves out and extensions' own:
      // a slice's name prefixes must match none of them but its own.
      const all = (tablesOf.get(s.name) ?? []).map((t) => t.name);
      if (count > 1) {
        opts.log(`reading schema ${s.name} over ${count} connections (round trip ${rttMs.toFixed(1)} ms)`);
      }
      slices.set(
        s.name,
        planSlices(data, count, rttMs >= NETWORK_BOUND_RTT_MS).map((names, i) => {
          const mine = new Set(names);
          const patterns = slicePatterns(s.name, names, all.filter((n) => !mine.has(n)));
          const path = join(opts.stagingDir, `.slice-${s.seg}-${i + 1}.dump`);
          let settle!: (e?: unknown) => void;
          const done = new Promise<void>((ok, fail) => settle = (e) => (e === undefined ? ok() : fail(e)));
          done.catch(() => {});
          sliceTasks.push(async () => {
            try {
              await runTool({
                path: tools.path("pg_dump"),
                args: pgDumpSliceArgs(patterns, path, tools.version.major, snapshot!, opts.dumpCompression),
                env,
                what: `pg_dump of ${names.length} table(s) of schema ${s.name}`,
                signal: local.signal,
              });
              settle();
            } catch (e) {
              settle(e);
              throw e;
            }
          });
          return { names, patterns, path, done };
        }),
      );
    }
    const groupTask = (group: PlannedSchema[], n: number) => async () => {
      let tables: Map<string, ManifestTable[]> | undefined;
      if (group.length > 1) {
        try {
          tables = await dumpTogether(group, n);
        } catch (e) {
          if (!(e instanceof ArchiveError)) throw e;
          opts.log(
            `warning: ${e.message}; dumping schemas ${group.map((s) => s.name).join(", ")} one by one`,
          );
          for (const s of group) {
            delete files[s.dump];
            await Deno.remove(join(opts.stagingDir, s.dump)).catch(() => {});
          }
        }
      }
      for (const s of group) {
        schemaResults.set(s.name, await finishSchema(s, tables?.get(s.name) ?? await dumpOne(s)));
      }
    };
    const tasks: (() => Promise<ManifestSchema | void>)[] = [
      // First, so that a schema's dump that waits for its slices never holds their places in the pool.
      ...sliceTasks,
      rolesTask,
      catalogTask,
      ...groups.map(groupTask),
    ];
    await runPool(tasks, opts.jobs, stop);
    const schemas = plan.schemas.map((s) => schemaResults.get(s.name)!);
    // The data files were written without fsync, and synced in the background since each was
    // closed: all are durable before anything is checked.
    await syncs.drain();
    const missing = notCaptured(detected, dumped);
    const partial = plan.skipped.length > 0 || plan.skippedSchemas.length > 0 || missing.length > 0;
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
        settings: plan.database.settings,
        roleSettings: plan.database.roleSettings,
        comment: plan.database.comment,
      },
      pgDumpVersion: tools.version.text,
      snapshot: { consistent: !!snapshot },
      status: partial ? "partial" : "ok",
      roles: plan.roles,
      catalog: plan.catalog.file,
      schemas,
      ...(plan.extensions.length ? { extensions: plan.extensions } : {}),
      userMappings: plan.userMappings,
      skipped: [
        ...plan.skipped,
        ...plan.skippedSchemas.map((s) => ({ schema: s.schema, table: "*", reason: s.reason })),
      ],
      notCaptured: missing,
      files,
      durationMs: 0,
    };
  } finally {
    abortSignal.removeEventListener("abort", stop);
    dropListDir();
    await Deno.remove(listDir, { recursive: true }).catch(() => {});
  }
}
