/**
 * The `restore` command: restore a backup, whole or by schema or table, into --target-url; with
 * `--storage` also its Storage files (after the database), with `--storage-only` only those, into the
 * target project's S3 endpoint (lib/storage/restore.ts).
 * @module
 */
import {
  boolValue,
  intValue,
  listValue,
  optionalString,
  type ParsedArgs,
  stringValue,
} from "../lib/cli/flags.ts";
import { backupSource, connectionSettings, rootFromArgs, storeFromArgs, targetUrl } from "../lib/cli/args.ts";
import { type BackupSource, sourceName } from "../lib/store/reader.ts";
import { describeDb } from "../lib/pg/url.ts";
import { ExitCode, usageError } from "../lib/base/errors.ts";
import { parseQualifiedName, qualified, type QualifiedName } from "../lib/pg/ident.ts";
import { onCleanup, setInterruptNote } from "../lib/base/interrupt.ts";
import { stderrLine, stdoutLine, stdoutText } from "../lib/base/output.ts";
import { interruptNote, planJson } from "../lib/restore/view.ts";
import { formatBytes } from "../lib/base/size.ts";
import { restoreBackup, type RestoreResult } from "../lib/restore/restorer.ts";
import type { RestoreRequest } from "../lib/restore/plan.ts";
import { neededFiles } from "../lib/restore/source.ts";
import { checkIntoRequest } from "../lib/restore/into.ts";
import { namesGitRevision } from "../lib/store/from.ts";
import { looksLikeTime } from "../lib/store/asof.ts";
import type { GitBackup } from "../lib/store/revision.ts";
import { readManifest } from "../lib/store/manifest.ts";
import { openDb } from "../lib/pg/connect.ts";
import type { StorageMap } from "../lib/storage/map.ts";
import type { S3Client } from "../lib/store/s3.ts";
import type { BlobSource } from "../lib/storage/remote.ts";
import type { planStorageRestore, StorageRestoreResult } from "../lib/storage/restore.ts";
import type { BucketSelection } from "../lib/storage/catalog.ts";

/** The restore selection from the flags; throws a usage error for a table without a schema. */
export function restoreRequest(args: ParsedArgs): RestoreRequest {
  const into = optionalString(args, "into");
  const req: RestoreRequest = {
    schemas: listValue(args, "schema"),
    tables: listValue(args, "table").map((t) => parseQualifiedName(t, "--table")),
    roles: boolValue(args, "roles"),
    dataOnly: boolValue(args, "data-only"),
    schemaOnly: boolValue(args, "schema-only"),
    clean: boolValue(args, "clean"),
    strict: boolValue(args, "strict"),
    excludeTables: listValue(args, "exclude-table").map((t) => parseQualifiedName(t, "--exclude-table")),
    excludeSchemas: listValue(args, "exclude-schema"),
  };
  if (into === undefined) return req;
  req.into = parseQualifiedName(into, "--into");
  checkIntoRequest(req.into, req);
  return req;
}

function summary(r: RestoreResult, label: string, target: string, into?: QualifiedName): string {
  const secs = (r.durationMs / 1000).toFixed(1);
  const what = into
    ? `${qualified(into.schema, into.table)}${
      r.plan.schemaOnly ? " (definitions only)" : ` (${r.rowsLoaded} row(s))`
    }`
    : r.plan.schemaOnly
    ? "definitions only"
    : `${r.tablesLoaded} table(s), ${r.rowsLoaded} row(s)`;
  const warn = r.warnings.length ? `, ${r.warnings.length} warning(s)` : "";
  return `restored ${what} from ${label} into ${target} in ${secs}s${warn}`;
}

/**
 * The modules of a Storage restore, loaded only with `--storage` or `--storage-only`: a database
 * restore starts without the S3 client, the blob store and age encryption.
 */
async function storageModules() {
  const [map, s3, blobs, remote, seal, restore] = await Promise.all([
    import("../lib/storage/map.ts"),
    import("../lib/store/s3.ts"),
    import("../lib/storage/blobs.ts"),
    import("../lib/storage/remote.ts"),
    import("../lib/storage/seal.ts"),
    import("../lib/storage/restore.ts"),
  ]);
  return { ...map, ...s3, ...blobs, ...remote, ...seal, ...restore };
}

/** The Storage part of a restore (`--storage`, `--storage-only`), checked before anything is written. */
interface FilesRestore {
  lib: Awaited<ReturnType<typeof storageModules>>;
  s3: S3Client;
  map: StorageMap;
  blobs: BlobSource;
  buckets: BucketSelection;
}

/**
 * Reads the `--storage` flags: the TARGET project's S3 settings (exit 2 without them; the source's
 * are never used), the backup's map and blob store, and checks the endpoint and keys. Undefined
 * without `--storage`/`--storage-only`.
 */
async function filesRestore(
  args: ParsedArgs,
  dir: BackupSource,
  log: (l: string) => void,
): Promise<FilesRestore | undefined> {
  const buckets = { include: listValue(args, "bucket"), exclude: listValue(args, "exclude-bucket") };
  if (!boolValue(args, "storage") && !boolValue(args, "storage-only")) {
    if (buckets.include.length || buckets.exclude.length) {
      throw usageError(
        "--bucket and --exclude-bucket need --storage",
        "add --storage to restore Storage files",
      );
    }
    return undefined;
  }
  const lib = await storageModules();
  const { readMap, manifestOfSource, openingPlain, blobSourceOf, blobRootOf, S3Client } = lib;
  const settings = lib.s3Settings({
    endpoint: optionalString(args, "target-storage-endpoint"),
    region: optionalString(args, "target-storage-region"),
    accessKeyId: optionalString(args, "target-storage-access-key-id"),
    secretAccessKey: optionalString(args, "target-storage-secret-access-key"),
  }, "target");
  const map = await readMap(dir, await manifestOfSource(dir, readManifest), {
    identityFile: optionalString(args, "identity-file"),
  });
  if (!map) {
    throw usageError(
      `the backup ${sourceName(dir)} has no Storage files`,
      "it was made without --storage; restore without --storage, or choose a backup made with it (--from)",
    );
  }
  // encrypted files are decrypted as they stream, then checked against the map's plaintext sha256
  const blobs = openingPlain(await blobSourceOf(dir, blobRootOf), {
    identityFile: optionalString(args, "identity-file"),
  });
  const s3 = new S3Client(settings, { retries: intValue(args, "retries"), log });
  await s3.listBuckets(); // endpoint and keys, before the database restore writes anything
  return { lib, s3, map, blobs, buckets };
}

/** Restores the Storage files (after the database, when both are restored). */
async function runFilesRestore(
  f: FilesRestore,
  o: { clean: boolean; dryRun: boolean; jobs: number; json: boolean; log: (l: string) => void },
  target: Awaited<ReturnType<typeof targetUrl>> | undefined,
  connection: ReturnType<typeof connectionSettings>,
): Promise<{ planText: string; result?: StorageRestoreResult; plan: ReturnType<typeof planStorageRestore> }> {
  const current = await f.lib.readTarget(f.s3, f.map, f.buckets, o.jobs);
  const plan = f.lib.planStorageRestore(f.map, f.buckets, current, { clean: o.clean });
  const planText = f.lib.formatStorageRestorePlan(plan, f.s3.settings.endpoint);
  if (o.dryRun) return { planText, plan };
  const db = target ? await openDb(target, { ...connection, log: o.log, max: 1 }) : undefined;
  try {
    const result = await f.lib.restoreFiles(plan, {
      s3: f.s3,
      blobs: f.blobs,
      jobs: o.jobs,
      sql: db?.sql,
      log: o.log,
    });
    return { planText, plan, result };
  } finally {
    await db?.close();
  }
}

function filesSummary(r: StorageRestoreResult): string {
  return `restored Storage files: ${r.bucketsCreated} bucket(s) created, ${r.uploaded} file(s) uploaded (${
    formatBytes(r.bytes)
  }), ${r.kept} already there, ${r.leftAlone} left alone${
    r.fixedInDatabase ? "; owners and bucket settings set in the database" : ""
  }`;
}

/**
 * The backups in git history and by time (lib/history/backups.ts, with the git client and the
 * object store's listing), loaded only for `--as-of` or `--from <rev>:<path>`: a restore of a
 * folder starts without them.
 */
function historyModule() {
  return import("../lib/history/backups.ts");
}

/** The backup a restore reads, and the temporary folder it was written out to (from git history). */
interface Source {
  dir: BackupSource;
  label: string;
  tmp?: string;
}

/**
 * The backup to restore: `--as-of` chooses the newest one taken at or before a time, on disk, in
 * the git history of the root, or in the object store of `--store` (read from there, streaming);
 * otherwise `--from`, which also takes `<rev>:<path>` (a backup in a git commit). A backup read from
 * git history has the files the restore needs written out to a temporary folder (nothing checked out).
 */
async function restoreSource(
  args: ParsedArgs,
  request: RestoreRequest,
): Promise<Source> {
  const env = Deno.env.toObject();
  const asOf = optionalString(args, "as-of");
  if (asOf === undefined) {
    const from = stringValue(args, "from");
    if (optionalString(args, "store") !== undefined || !(await namesGitRevision(from))) {
      return await backupSource(args, env);
    }
    if (looksLikeTime(from)) {
      throw usageError(
        `--from '${from}' is a time, not a backup`,
        "give the time to --as-of to restore the newest backup taken at or before it",
      );
    }
    const { gitBackupAt } = await historyModule();
    return await fromGit(await gitBackupAt(rootFromArgs(args), from, "--from"), request);
  }
  if (args.origin["from"]) {
    throw usageError(
      "--from and --as-of exclude each other",
      "give --from to name a backup, or --as-of to choose the newest one taken at or before a time",
    );
  }
  const store = await storeFromArgs(args, env);
  const { backupAsOf, storedAsOf } = await historyModule();
  if (store) {
    const { reader, label } = await storedAsOf(store, asOf, new Date());
    return { dir: reader, label };
  }
  const b = await backupAsOf(rootFromArgs(args), asOf, new Date());
  return b.dir ? { dir: b.dir, label: b.label } : await fromGit(b.git!, request);
}

/** The files of a backup in a git commit that `request` reads, written out to a temporary folder. */
async function fromGit(g: GitBackup, request: RestoreRequest): Promise<Source> {
  const files = neededFiles(g.manifest, request);
  const tmp = await Deno.makeTempDir({ prefix: "supabase-backup-git-" });
  try {
    const { writeGitBackup } = await historyModule();
    await writeGitBackup(g, files, tmp);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  return { dir: tmp, label: g.label, tmp };
}

/** What an interrupted `restore --storage-only` leaves: the files it uploaded (no transaction there). */
const STORAGE_ONLY_NOTE =
  "Storage files uploaded before the signal stay (the database is not touched): run the restore again with --storage-only to finish them";

/** Runs `backup.ts restore`; returns the exit code. */
export async function run(args: ParsedArgs): Promise<number> {
  const env = Deno.env.toObject();
  const request = restoreRequest(args);
  const jobs = intValue(args, "jobs");
  const connection = connectionSettings(args);
  const json = boolValue(args, "json");
  const dryRun = boolValue(args, "dry-run");
  // One message per call: the restorer prints its plan a line at a time, names escaped.
  const log = (line: string) => stderrLine(line);
  const only = boolValue(args, "storage-only");
  setInterruptNote(only ? STORAGE_ONLY_NOTE : interruptNote("running"));
  // The target first: a missing or bad --target-url is the error a user sees, whatever --from says.
  const target = only && optionalString(args, "target-url") === undefined
    ? undefined
    : await targetUrl(args, env);
  const src = await restoreSource(args, request);
  const dropTmp = src.tmp ? onCleanup(() => Deno.removeSync(src.tmp!, { recursive: true })) : undefined;
  try {
    return await restoreFrom(args, src, { request, target, jobs, connection, json, dryRun, only, log });
  } finally {
    dropTmp?.();
    if (src.tmp) await Deno.remove(src.tmp, { recursive: true }).catch(() => {});
  }
}

/** The restore once its backup and target are known. */
async function restoreFrom(
  args: ParsedArgs,
  { dir, label, tmp }: Source,
  o: {
    request: RestoreRequest;
    target: Awaited<ReturnType<typeof targetUrl>> | undefined;
    jobs: number;
    connection: ReturnType<typeof connectionSettings>;
    json: boolean;
    dryRun: boolean;
    only: boolean;
    log: (l: string) => void;
  },
): Promise<number> {
  const { request, target, jobs, connection, json, dryRun, only, log } = o;
  if (tmp && (only || boolValue(args, "storage"))) {
    throw usageError(
      `--storage: ${label} is only in git history, and its Storage files are not`,
      "restore the database from it without --storage, or choose a backup that is still on disk (--from)",
    );
  }
  const files = await filesRestore(args, dir, log);
  const filesOpts = { clean: request.clean, dryRun, jobs, json, log };
  if (only) {
    const f = await runFilesRestore(files!, filesOpts, target, connection);
    if (json) stdoutText(JSON.stringify({ dryRun, from: label, storage: storageJson(f) }, null, 2));
    else if (dryRun) stdoutText(`Dry run: nothing changed.\n${f.planText}`);
    else stdoutLine(filesSummary(f.result!));
    return ExitCode.ok;
  }
  const r = await restoreBackup({
    backupDir: dir,
    label,
    target: target!,
    request,
    jobs,
    ...connection,
    pgBin: optionalString(args, "pg-bin"),
    decode: { identityFile: optionalString(args, "identity-file") },
    dryRun,
    log,
    onCommit: (phase) => setInterruptNote(interruptNote(phase, { storage: files !== undefined })),
  });
  const where = describeDb(target!);
  const f = files ? await runFilesRestore(files, filesOpts, target, connection) : undefined;
  if (json) {
    stdoutText(JSON.stringify(
      {
        dryRun,
        from: label,
        target: where,
        ...planJson(r.plan),
        ...(request.into ? { into: `${request.into.schema}.${request.into.table}` } : {}),
        ...(r.stop ? { stop: { error: r.stop.message, hint: r.stop.hint } } : {}),
        ...(dryRun ? {} : {
          tablesLoaded: r.tablesLoaded,
          rowsLoaded: r.rowsLoaded,
          warnings: r.warnings,
          durationMs: r.durationMs,
        }),
        ...(f ? { storage: storageJson(f) } : {}),
      },
      null,
      2,
    ));
  } else if (dryRun) {
    const verdict = r.stop ? "the restore would stop before writing anything (below)" : "nothing changed";
    stdoutText(`Dry run: ${verdict}.\n${r.planText}${f ? `\n${f.planText}` : ""}`);
  } else {
    stdoutLine(summary(r, label, where, request.into));
    if (f?.result) stdoutLine(filesSummary(f.result));
  }
  // A dry run exits as the restore would have: its plan first, then the error it would stop with.
  if (r.stop) throw r.stop;
  return ExitCode.ok;
}

function storageJson(f: Awaited<ReturnType<typeof runFilesRestore>>): Record<string, unknown> {
  const count = (a: string) => f.plan.files.filter((x) => x.action === a).length;
  return {
    buckets: f.plan.buckets.map((b) => ({ id: b.bucket.id, action: b.action })),
    upload: count("upload"),
    replace: count("replace"),
    keep: count("keep"),
    leftAlone: count("differs"),
    bytes: f.plan.bytes,
    ...(f.result ? { result: f.result } : {}),
  };
}
