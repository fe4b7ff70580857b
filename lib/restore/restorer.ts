/**
 * The restore: reads the target's state (target.ts), plans (plan.ts), checks the
 * backup files it needs, then runs the steps: roles, extensions (extensions.ts), whole schemas
 * (schemas.ts: pre-data in passes, data in parallel, post-data with foreign keys last) and
 * single tables (tables.ts). The drill is in lib/check/drill.ts.
 * @module
 */
import { openDb } from "../pg/connect.ts";
import { describeDb, libpqEnv } from "../pg/url.ts";
import { onCleanup } from "../base/interrupt.ts";
import { runPool } from "../base/pool.ts";
import { BackupError } from "../base/errors.ts";
import { lexScript } from "../pg/lexer.ts";
import { type Manifest, type ManifestSchema, readManifest } from "../store/manifest.ts";
import { type BackupSource, sourceName } from "../store/reader.ts";
import { findPgTools, parsePgVersion, type PgTools, supportsRestrictKey } from "../pg/tools.ts";
import { type Ctx, type RestoreOptions, warn } from "./context.ts";
import { Session, type SessionOptions } from "./session.ts";
import { createExtensions } from "./extensions.ts";
import {
  copyColumnsOf,
  postDataHasPolicies,
  postDataTexts,
  preDataScripts,
  preDataText,
  readText,
} from "./files.ts";
import { skippedLine } from "./filter.ts";
import {
  guardError,
  likelyDumpSchemas,
  planRestore,
  replicaError,
  type RestorePlan,
  selectTables,
  tableKey,
  type TargetState,
  wholeSchemas,
} from "./plan.ts";
import { formatRestorePlan, leftOutSchemaHint } from "./view.ts";
import { runPsql } from "./exec.ts";
import { catalogObjects, loadSchemaData, managedExtras, noteExcluded, postData, preData } from "./schemas.ts";
import { scriptText } from "./script.ts";
import { foreignKeyHint, leftOutTableHint, type ViewUse, viewUses } from "./explain.ts";
import type { QualifiedName } from "../pg/ident.ts";
import { createDependencies, loadTableData, restoreTables } from "./tables.ts";
import { assumeCreated, inspectTarget, namesInSchema } from "./target.ts";
import { checkPolicyRoles } from "./precheck.ts";
import { parameterGrantees, roleStatement } from "./roles.ts";
import { checkFiles, type CheckOptions, type FileFault, throwOnFaults } from "../store/check.ts";
import { openPlaintext } from "../store/decode.ts";
import { scriptTextOf } from "../pg/inputtext.ts";
import { catalogError, type CatalogScope, planCatalog } from "./catalog.ts";
import { parseScript, type Script } from "./script.ts";
import { intoNameError, intoNames, intoNote, intoScript, intoState } from "./into.ts";

/** What a restore did. */
export interface RestoreResult {
  plan: RestorePlan;
  manifest: Manifest;
  /** The plan as text (also logged). */
  planText: string;
  /** Tables whose rows were loaded, and those rows per the manifest. */
  tablesLoaded: number;
  rowsLoaded: number;
  warnings: string[];
  durationMs: number;
  /**
   * A dry run only: the error the restore would stop with before writing anything (the guard,
   * session_replication_role, the pg tools, roles that policies name), or undefined.
   */
  stop?: BackupError;
}

/**
 * Restores (part of) the backup in `opts.backupDir` into `opts.target`. Prints the plan through
 * `opts.log`; a dry run stops there. Throws a {@link BackupError}: exit 1 when the guard refuses,
 * a needed file is damaged or a program fails; exit 2 for a selection the backup cannot satisfy.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const manifest = await readManifest(opts.backupDir);
  const selected = selectTables(manifest, opts.request);
  const into = intoNames(opts.request, selected);
  // catalog.sql is checked and read while the target is connected to and read (awaited below).
  const catalogRead = quiet(readCatalog(opts, manifest));
  // Started before the target is read, each waiting on something outside this thread: the pg tools
  // are looked for with the dump's version (the server's is checked once known, toolsFor), the dumps
  // the plan is likely to read are checked against the manifest, and psql connects and opens the
  // transaction. Nothing is written before every check below passed.
  const dumpMajor = parsePgVersion(manifest.pgDumpVersion)?.major ?? 0;
  const probed = quiet(findPgTools({ minMajor: dumpMajor, pgBin: opts.pgBin }));
  const checkOpts = { ...opts.decode, jobs: opts.jobs };
  const likelySchemas = opts.dryRun ? [] : likelyDumpSchemas(manifest, opts.request);
  const likely = likelySchemas.flatMap((s) => s.dumpParts ?? [s.dump]);
  const likelyChecked = quiet(checkFiles(opts.backupDir, manifest, likely, checkOpts));
  // The restore's own folder (decrypted or reassembled dumps, pg_restore's lists); none for a dry run.
  const tmp = opts.dryRun ? undefined : await Deno.makeTempDir({ prefix: "supabase-backup-restore-" });
  const dropTmp = tmp ? onCleanup(() => Deno.removeSync(tmp, { recursive: true })) : () => {};
  const removeTmp = async () => {
    dropTmp();
    if (tmp) await Deno.remove(tmp, { recursive: true }).catch(() => {});
  };
  // Those dumps are read (pg_restore) once their check passed, while the target is read.
  const ahead = tmp && likelySchemas.length
    ? readAhead({ opts, manifest, tmp }, likelySchemas, { files: likely, faults: likelyChecked }, probed)
    : undefined;
  // What the restore leaves out and the target lacks, once planned (for psql's errors).
  const missing: { schemas?: Set<string>; tables?: QualifiedName[] } = {};
  const inTarget = new Set<string>(); // the target's tables before the restore, once read
  const backupTables = manifest.schemas.flatMap((s) =>
    s.tables.map((t) => ({ schema: s.name, table: t.name }))
  );
  let reading: Omit<Ctx, "session"> | undefined;
  let serverMajor = (_: number) => {};
  const major = new Promise<number>((resolve) => serverMajor = resolve);
  const sessionOpts = (env: Record<string, string>): Omit<SessionOptions, "psql"> => ({
    env: { ...env, PGOPTIONS: [env.PGOPTIONS, "-c client_min_messages=warning"].filter(Boolean).join(" ") },
    serverMajor: major,
    log: opts.log,
    explain: async (stderr) =>
      (missing.schemas && leftOutSchemaHint(stderr, missing.schemas)) ??
        foreignKeyHint(stderr, backupTables, (t) => inTarget.has(tableKey(t.schema, t.table))) ??
        (missing.tables && reading &&
          leftOutTableHint(stderr, missing.tables, await backupViews(reading))),
  });
  // psql and its transaction; with --ipv4 once the address is resolved (below).
  let early: Promise<Session | undefined> | undefined;
  if (!opts.dryRun && !opts.ipv4) {
    early = quiet(
      startSession(probed, sessionOpts(libpqEnv(opts.target, { connectTimeout: opts.connectTimeout }))),
    );
  }
  const db = await openDb(opts.target, {
    ipv4: opts.ipv4,
    connectTimeout: opts.connectTimeout,
    retries: opts.retries,
    log: opts.log,
  }).catch(async (e) => {
    await stop(early);
    await removeTmp();
    throw e;
  });
  const sql = db.sql;
  try {
    let state = await inspectTarget(
      sql,
      into ? [] : selected.map((x) => ({ schema: x.schema.name, table: x.table.name })),
    );
    serverMajor(state.serverMajor);
    const found = quiet(toolsFor(probed, Math.max(state.serverMajor, dumpMajor), opts.pgBin));
    if (!opts.dryRun) {
      // The psql started early, when it still runs with the tools chosen for this server; else a new one.
      const started = early;
      early = quiet(handOver(started, probed, found, () => startSession(found, sessionOpts(db.env))));
    }
    const taken = into ? await namesInSchema(sql, into.to.schema) : undefined;
    if (into) {
      const exists = intoNameError(into.to, taken!);
      if (exists) throw exists;
      state = intoState(state, into);
    }
    // Rows that go into a Supabase-managed table of the target load by the columns both have: read
    // the backup's column list of those tables (the first line of their data file).
    const backupColumns = new Map<string, string[]>();
    for (const { schema, table } of selected) {
      const there = state.tables.get(tableKey(schema.name, table.name));
      if (!schema.managed || !there?.columns || table.dataFiles.length === 0) continue;
      const cols = await copyColumnsOf(opts.backupDir, manifest, table.dataFiles[0], opts.decode);
      if (cols) backupColumns.set(tableKey(schema.name, table.name), cols);
    }
    const plan = planRestore(manifest, opts.request, state, backupColumns);
    // The files this restore reads are checked before anything is written, from now on (beside
    // reading catalog.sql). The per-table files of schemas restored from their dumps, which it does
    // not read, are checked while it runs: a fault there ends it before COMMIT (nothing is changed),
    // so a damaged backup is still refused whole.
    const later = unreadFiles(plan);
    const first = plan.files.filter((f) => !later.has(f));
    let firstChecked: Promise<FileFault[]> | undefined;
    const checked = new Set(first);
    const warnings: string[] = [];
    let policiesChecked: Promise<void> | undefined;
    if (!opts.dryRun) {
      firstChecked = quiet(
        checkFirst(opts.backupDir, manifest, first, checkOpts, { files: likely, faults: likelyChecked }),
      );
      // Without the pg tools the restore stops below, with that error in its place.
      const tools = await found.catch(() => undefined);
      if (tools) {
        // What was read ahead is used when it was read with these tools; else the dumps are read again.
        const read = ahead && (await ahead.tools)?.dir === tools.dir
          ? ahead.files
          : { dumps: new Map(), preDataText: new Map(), postData: new Map() };
        reading = {
          opts,
          manifest,
          plan,
          state,
          tools,
          env: db.env,
          filter: { target: state },
          counts: { owners: 0, privileges: 0 },
          tmp: tmp!,
          warnings,
          ...read,
          // A dump is read (pg_restore) only once this check passed.
          checked,
          checking: quiet(firstChecked.then((faults) => throwOnFaults(faults, opts.backupDir, "restore"))),
          sql,
          into: into && { ...into, taken: taken! },
        };
        // The dumps' definitions, their post-data and the check of the roles policies name are
        // read (pg_restore) now, while catalog.sql is read and psql connects; the steps use them.
        policiesChecked = startReading(reading);
      }
    }
    const catalog = await catalogRead;
    if (catalog) {
      plan.files.push(manifest.catalog!);
      plan.catalog = planCatalog(
        manifest.catalog!,
        catalog,
        manifest,
        opts.request,
        state,
        catalogScope(plan, manifest, state, opts.request),
      );
    }
    if (into) {
      // Read and rewritten now, so that the plan (and a dry run) names what changes, and a table that
      // cannot be restored under a new name is refused before anything is written.
      const rel = selected[0].table.schemaFile;
      const text = await scriptTextOf(
        await openPlaintext(opts.backupDir, rel, manifest.files[rel], opts.decode),
        rel,
      );
      plan.notes.push(intoNote(into, intoScript(text, into, taken!)));
    }
    const planText = formatRestorePlan(plan, {
      from: opts.label ?? sourceName(opts.backupDir),
      target: describeDb(opts.target),
    });
    const result: RestoreResult = {
      plan,
      manifest,
      planText,
      tablesLoaded: 0,
      rowsLoaded: 0,
      warnings,
      durationMs: 0,
    };
    if (opts.dryRun) {
      result.stop = guardError(plan, describeDb(opts.target)) ?? replicaError(plan, state) ??
        catalogError(plan.catalog, state) ?? await dryRunChecks(opts, manifest, plan, state);
      return result;
    }
    missing.schemas = leftOut(manifest, plan, state);
    missing.tables = leftOutTables(backupTables, plan, state);
    for (const k of state.tables.keys()) inTarget.add(k);
    // One message per line: the plan's names are escaped (view.ts), so its breaks are its own.
    for (const line of planText.split("\n")) opts.log(line);
    const refused = guardError(plan, describeDb(opts.target));
    if (refused) throw refused;
    const needsReplica = replicaError(plan, state);
    if (needsReplica) throw needsReplica;
    const needsSuperuser = catalogError(plan.catalog, state);
    if (needsSuperuser) throw needsSuperuser;
    const tools = await found;
    if (!supportsRestrictKey(tools.version)) {
      // Without `\restrict`, a meta-command in a backup file would run on this machine.
      throw new BackupError(
        `psql ${tools.version.text} cannot restrict meta-commands (\\restrict); restoring needs psql 17.6, 16.10, 15.14 or newer`,
        {
          hint:
            "install a current PostgreSQL client (apt-get install postgresql-client-17), or point --pg-bin at one",
        },
      );
    }
    opts.log(`checking ${plan.files.length} backup file(s)`);
    throwOnFaults(await firstChecked!, opts.backupDir, "restore");
    // Started once the definitions are sent (execute), or by a reader of one of these files.
    let startLater = () => {};
    const laterDone = new Promise<void>((resolve) => {
      startLater = resolve;
    })
      .then(() => checkFiles(opts.backupDir, manifest, [...later], checkOpts))
      .then((faults) => throwOnFaults(faults, opts.backupDir, "restore"));
    let fault: unknown;
    const laterChecked = laterDone.then(() => {}, (e: unknown) => {
      fault = e;
    });
    if (catalog && manifest.catalog) checked.add(manifest.catalog);
    reading!.catalog = catalog;
    reading!.later = { files: later, start: () => startLater(), done: laterDone };
    const ctx: Ctx = Object.assign(reading!, { session: (await early)! });
    // A damaged file found while the restore runs ends the session at once.
    laterChecked.then(() => fault && ctx.session.abort(fault)).catch(() => {});
    try {
      // Every step writes into the one session; COMMIT comes after the last. A failure anywhere
      // (or an interrupt, or the tool being killed) ends psql before it: nothing is changed.
      await execute(ctx, policiesChecked!);
      startLater();
      await laterChecked;
      if (fault) throw fault;
      opts.onCommit?.("committing");
      await ctx.session.commit();
      opts.onCommit?.("committed");
      for (const w of ctx.session.warnings) warn(ctx, w);
    } catch (e) {
      // A damaged file is the cause of whatever failed after it was found.
      await ctx.session.abort(fault ?? e);
      throw fault ?? e;
    }
    const loaded = [...plan.schemas.flatMap((s) => s.tables), ...plan.tables].filter((t) =>
      !plan.schemaOnly &&
      (t.action === "create" || t.action === "load" || t.action === "recreate" || t.action === "empty-load")
    );
    result.tablesLoaded = loaded.length;
    result.rowsLoaded = loaded.reduce((n, t) => n + (t.table.kind === "p" ? 0 : t.table.rows ?? 0), 0);
    const skipped = skippedLine(ctx.counts, state.user);
    if (skipped) opts.log(skipped);
    result.durationMs = Date.now() - started;
    return result;
  } finally {
    // psql started early and not handed on (a check refused the restore): stopped, nothing committed.
    await stop(early);
    await db.close();
    await removeTmp();
  }
}

/**
 * The pg tools for a server of `minMajor` (or a dump of it): those `probed` (looked for with the
 * dump's version) when they are new enough, which is what looking again would choose (the first
 * candidate that is), else looked for again (and its error, which names `minMajor`).
 */
async function toolsFor(probed: Promise<PgTools>, minMajor: number, pgBin?: string): Promise<PgTools> {
  const tools = await probed.catch(() => undefined);
  return tools && tools.version.major >= minMajor ? tools : await findPgTools({ minMajor, pgBin });
}

/**
 * The session the restore writes into: `started` (psql started before the target was read) while it
 * runs with the tools `found` for the server, else a new one from `start` (`started` is stopped).
 */
async function handOver(
  started: Promise<Session | undefined> | undefined,
  probed: Promise<PgTools>,
  found: Promise<PgTools>,
  start: () => Promise<Session | undefined>,
): Promise<Session | undefined> {
  const session = await started?.catch(() => undefined);
  const [early, tools] = await Promise.all([probed.catch(() => undefined), found.catch(() => undefined)]);
  if (session && !session.ended && early && tools && early.dir === tools.dir) return session;
  await session?.abort(new Error("psql is started again"));
  return await start();
}

/**
 * The faults of the files checked before the first write (`first`, in its order): those already
 * being checked (`likely`) are not read again.
 */
async function checkFirst(
  backupDir: BackupSource,
  manifest: Manifest,
  first: readonly string[],
  checkOpts: CheckOptions,
  likely: { files: readonly string[]; faults: Promise<FileFault[]> },
): Promise<FileFault[]> {
  const started = new Set(likely.files);
  const rest = first.filter((f) => !started.has(f));
  const wanted = new Set(first);
  const [faults, early] = await Promise.all([
    checkFiles(backupDir, manifest, rest, checkOpts),
    likely.faults,
  ]);
  const order = new Map(first.map((f, i) => [f, i]));
  return [...faults, ...early.filter((f) => wanted.has(f.file))]
    .sort((a, b) => order.get(a.file)! - order.get(b.file)!);
}

/** Stops psql started early and not handed on (the restore stopped before its first write). */
async function stop(early: Promise<Session | undefined> | undefined): Promise<void> {
  const session = await early?.catch(() => undefined);
  await session?.abort(new Error("the restore stopped before its first write"));
}

/** `p`, with its rejection marked as handled: it is awaited later, or not at all when an earlier step fails. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/**
 * psql with the restore's transaction open, once the pg tools are found; undefined when that psql
 * cannot restrict meta-commands (the restore then stops with its own error before using it).
 */
async function startSession(
  found: Promise<PgTools>,
  opts: Omit<SessionOptions, "psql">,
): Promise<Session | undefined> {
  const tools = await found;
  if (!supportsRestrictKey(tools.version)) return undefined;
  return await Session.open({ ...opts, psql: tools.path("psql") });
}

/** The dumps read before the target is read ({@link readAhead}), and the tools they are read with. */
interface ReadAhead {
  tools: Promise<PgTools | undefined>;
  files: Pick<Ctx, "dumps" | "preDataText" | "postData">;
}

/**
 * Starts reading what the first write waits for from the dumps of `schemas`: their definitions and
 * their post-data's table of contents (the check of the roles policies name), with the tools `probed`
 * for the dump's version, --jobs pg_restore runs at a time, each once the check of the `likely` files
 * passed (a fault found there fails the read, where a step uses it). The post-data scripts are read
 * later ({@link startReading}): they are not needed before the rows.
 */
function readAhead(
  base: Pick<Ctx, "opts" | "manifest" | "tmp">,
  schemas: ManifestSchema[],
  likely: { files: readonly string[]; faults: Promise<FileFault[]> },
  probed: Promise<PgTools>,
): ReadAhead {
  const files = { dumps: new Map(), preDataText: new Map(), postData: new Map() };
  const tools = probed.catch(() => undefined);
  const checking = quiet(likely.faults.then((f) => throwOnFaults(f, base.opts.backupDir, "restore")));
  tools.then((t) => {
    if (!t) return;
    readDumps(
      { ...base, ...files, tools: t, checked: new Set(likely.files), checking },
      schemas,
      postDataHasPolicies,
    );
  });
  return { tools, files };
}

/**
 * Starts reading, beside the rest, what the steps need from the dumps: each schema's definitions and
 * post-data (pg_restore). Returns the check of the roles the backup's policies name, which the first
 * write waits for.
 */
function startReading(ctx: Omit<Ctx, "session">): Promise<void> {
  if (!ctx.plan.dataOnly) {
    readDumps(ctx, ctx.plan.schemas.filter((s) => s.mode === "ddl").map((s) => s.manifest), postDataTexts);
  }
  return quiet(checkPolicyRoles(ctx));
}

/** What {@link readDumps} reads with. */
type ReadCtx = Pick<
  Ctx,
  "opts" | "manifest" | "tmp" | "tools" | "dumps" | "preDataText" | "postData" | "checked" | "checking"
>;

/**
 * Starts reading the definitions of the dumps of `schemas` and then `post` of each (the post-data's
 * listing, or its scripts), --jobs pg_restore runs at a time, the definitions (needed first) before
 * the rest; each is read once per restore (files.ts).
 */
function readDumps(
  ctx: ReadCtx,
  schemas: ManifestSchema[],
  post: (ctx: ReadCtx, s: ManifestSchema) => Promise<unknown>,
): void {
  const reads: (() => Promise<unknown>)[] = [
    ...schemas.map((s) => () => preDataText(ctx, s)),
    ...schemas.map((s) => () => post(ctx, s)),
  ];
  // A read that fails fails again, with its error, where a step uses it.
  runPool(reads, Math.max(1, ctx.opts.jobs)).catch(() => {});
}

/**
 * The checks a real restore makes before its first write that need the pg tools and the backup's
 * dumps, made for a dry run: returns the error the restore would stop with, or undefined.
 */
async function dryRunChecks(
  opts: RestoreOptions,
  manifest: Manifest,
  plan: RestorePlan,
  state: TargetState,
): Promise<BackupError | undefined> {
  const tmp = await Deno.makeTempDir({ prefix: "supabase-backup-dry-run-" });
  const dropTmp = onCleanup(() => Deno.removeSync(tmp, { recursive: true }));
  try {
    const dumpMajor = parsePgVersion(manifest.pgDumpVersion)?.major ?? 0;
    const tools = await findPgTools({ minMajor: Math.max(state.serverMajor, dumpMajor), pgBin: opts.pgBin });
    await checkPolicyRoles({
      opts,
      manifest,
      plan,
      state,
      tools,
      tmp,
      dumps: new Map(),
      postData: new Map(),
    });
    return undefined;
  } catch (e) {
    if (e instanceof BackupError) return e;
    throw e;
  } finally {
    dropTmp();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function execute(ctx: Ctx, policiesChecked: Promise<void>): Promise<void> {
  const { plan } = ctx;
  // Before the first write: the roles the backup's policies name (exit 2, nothing written).
  await policiesChecked;
  if (plan.roles) await restoreRoles(ctx);
  if (!plan.dataOnly) await createExtensions(ctx);
  if (plan.kind === "tables") {
    await restoreTables(ctx, plan.tables);
    return;
  }
  const ddl = plan.schemas.filter((s) => s.mode === "ddl").map((s) => s.manifest);
  await noteExcluded(ctx);
  if (!plan.dataOnly) {
    // With --schema, types and functions of schemas left out may still be needed.
    const chosen = new Set(plan.schemas.map((s) => s.name));
    const others = ctx.manifest.schemas.filter((s) => !chosen.has(s.name));
    if (others.length > 0 && ddl.length > 0) {
      const mine = await preDataScripts(ctx, ddl);
      await createDependencies(
        ctx,
        mine.map((m) => scriptText(m.script)).join("\n"),
        await preDataScripts(ctx, others),
        [],
      );
    }
    await preData(ctx, ddl);
  }
  // The check of the files the restore does not read runs beside the rows, not the definitions.
  ctx.later?.start();
  if (plan.tables.length > 0) await restoreTables(ctx, plan.tables);
  if (!plan.schemaOnly) {
    const managed = plan.schemas.filter((s) => s.mode === "data").flatMap((s) => s.tables)
      .filter((t) => t.action === "load" || t.action === "empty-load" || t.action === "merge");
    const tasks = [
      ...ddl.map((s) => () => loadSchemaData(ctx, s)),
      ...managed.map((t) => () => loadTableData(ctx, t)),
    ];
    // One after another: they all write into the one session.
    for (const task of tasks) await task();
    if (managed.length > 0) ctx.opts.log(`loaded rows into ${managed.length} Supabase-managed table(s)`);
  }
  if (!plan.dataOnly) {
    await postData(ctx, ddl);
    // Triggers and policies on tables this restore did not create: those of managed schemas, and
    // with --clean those that DROP … CASCADE removed (e.g. a trigger on auth.users).
    const ddlNames = new Set(ddl.map((s) => s.name));
    const extras = plan.clean
      ? ctx.manifest.schemas.filter((s) => !ddlNames.has(s.name) && ctx.state.schemas.has(s.name))
      : plan.schemas.filter((s) => s.mode === "data").map((s) => s.manifest);
    await managedExtras(ctx, extras);
    await catalogObjects(ctx, "post");
  }
}

/**
 * The files of the plan that the restore does not read: the per-table schema.sql and data files of
 * schemas restored from their dumps (checked so that a damaged backup is refused as a whole). The
 * schema.sql of a table left out with --exclude-table is read (its entries are what is left out).
 */
function unreadFiles(plan: RestorePlan): Set<string> {
  const out = new Set<string>();
  if (plan.kind !== "schemas") return out;
  const read = new Set([
    ...plan.excluded.map((x) => x.table.schemaFile),
    ...plan.tables.flatMap((t) => [t.table.schemaFile, ...t.table.dataFiles]),
  ]);
  const files = new Set(plan.files);
  for (const s of plan.schemas) {
    if (s.mode !== "ddl") continue;
    for (const t of s.tables) {
      for (const f of [t.table.schemaFile, ...t.table.dataFiles]) {
        if (files.has(f) && !read.has(f)) out.add(f);
      }
    }
  }
  return out;
}

/**
 * catalog.sql, checked against the manifest and cut into entry blocks, when the plan can use it: a
 * backup that has it, a restore of schemas (not `--table`, not `--data-only`, as planRestore decides).
 * Undefined otherwise (older backups: the definitions keep the order of {@link schemaOrder}).
 */
async function readCatalog(opts: RestoreOptions, manifest: Manifest): Promise<Script | undefined> {
  const file = manifest.catalog;
  if (!file || !wholeSchemas(opts.request) || opts.request.dataOnly) return undefined;
  throwOnFaults(await checkFiles(opts.backupDir, manifest, [file], opts.decode), opts.backupDir, "restore");
  const stream = await openPlaintext(opts.backupDir, file, manifest.files[file], opts.decode);
  return parseScript(await scriptTextOf(stream, file));
}

/** What the catalog plan needs to know of the rest of the plan. */
function catalogScope(
  plan: RestorePlan,
  m: Manifest,
  target: TargetState,
  req: RestoreOptions["request"],
): CatalogScope {
  const restored = new Set<string>();
  for (const s of plan.schemas) {
    for (const t of s.tables) {
      if (t.action !== "refuse" && t.action !== "skip") restored.add(tableKey(s.name, t.table.name));
    }
  }
  const excluded = new Set(req.excludeSchemas ?? []);
  return {
    ddl: new Set(plan.schemas.filter((s) => s.mode === "ddl").map((s) => s.name)),
    excluded,
    hasTable: (schema, table) =>
      !excluded.has(schema) &&
      (restored.has(tableKey(schema, table)) || target.tables.has(tableKey(schema, table))) &&
      !plan.excluded.some((x) => x.schema === schema && x.table.name === table),
    supabase: plan.schemas.some((s) => s.mode === "data"),
    managed: new Set(m.schemas.filter((s) => s.managed).map((s) => s.name)),
  };
}

/** The backup's `tables` this restore does not create (excluded, or not selected) and the target lacks. */
function leftOutTables(
  tables: readonly QualifiedName[],
  plan: RestorePlan,
  target: TargetState,
): QualifiedName[] {
  const created = new Set(
    [...plan.schemas.flatMap((s) => s.tables), ...plan.tables]
      .filter((t) => t.action === "create" || t.action === "recreate")
      .map((t) => tableKey(t.schema, t.table.name)),
  );
  return tables.filter((t) =>
    !created.has(tableKey(t.schema, t.table)) && !target.tables.has(tableKey(t.schema, t.table))
  );
}

/** The views of the schemas this restore creates, with the tables they read (after a failure). */
async function backupViews(ctx: Omit<Ctx, "session">): Promise<ViewUse[]> {
  const out: ViewUse[] = [];
  for (const s of ctx.plan.schemas.filter((x) => x.mode === "ddl")) {
    for (const b of parseScript(await preDataText(ctx, s.manifest)).blocks) {
      if (b.type !== "VIEW" && b.type !== "MATERIALIZED VIEW") continue;
      for (const p of lexScript(b.text)) {
        const v = p.kind === "statement" ? viewUses(p.text) : undefined;
        if (v) out.push(v);
      }
    }
  }
  return out;
}

/** The backup's schemas that the restore neither creates nor loads and the target does not have. */
function leftOut(m: Manifest, plan: RestorePlan, target: TargetState): Set<string> {
  const restored = new Set(plan.schemas.map((s) => s.name));
  return new Set(m.schemas.map((s) => s.name).filter((n) => !restored.has(n) && !target.schemas.has(n)));
}

async function restoreRoles(ctx: Ctx): Promise<void> {
  const text = await readText(ctx, ctx.manifest.roles!);
  const existing = ctx.state.roles;
  let kept = 0, present = 0, params = 0;
  let out = "";
  const created: string[] = [];
  // Whole statements: a role's setting may hold newlines (`ALTER ROLE postgres SET search_path TO
  // '…⏎CREATE ROLE …'`), and dropping its first line would let the rest run.
  for (const p of lexScript(text)) {
    const m = p.kind === "statement" ? roleStatement(p.text) : undefined;
    // A parameter privilege of roles the target has is theirs, as their ALTER ROLE is: a new
    // Supabase project grants its own to postgres, and postgres may not grant them again (each
    // would only warn "no privileges were granted").
    const grantees = p.kind === "statement" && !m ? parameterGrantees(p.text) : undefined;
    if (grantees && !ctx.state.superuser && grantees.every((r) => existing.has(r))) {
      params++;
      continue;
    }
    if (m) {
      const role = m.role;
      if (existing.has(role)) {
        if (m.verb === "CREATE") present++;
        if (m.verb === "CREATE" || !ctx.state.superuser) continue;
      } else if (m.verb === "CREATE") {
        kept++;
        created.push(role);
      }
    }
    out += p.text;
  }
  ctx.opts.log(
    `roles: creating ${kept} role(s)${present ? `, ${present} already present (left as they are)` : ""}${
      params ? `, ${params} parameter privilege(s) of roles the target has left as they are` : ""
    }`,
  );
  await runPsql(ctx, out, "restoring roles.sql");
  assumeCreated(ctx, { roles: created });
}
