/**
 * The `verify` command: check backup files against their manifest, and Storage blobs against their
 * sha256; `--drill` restores the backup into a scratch database and compares every table's row count
 * with the manifest.
 * @module
 */
import { boolValue, intValue, optionalString, type ParsedArgs, stringValue } from "../lib/cli/flags.ts";
import { backupSource, connectionSettings, rootFromArgs, storeFromArgs, targetUrl } from "../lib/cli/args.ts";
import { describeDb } from "../lib/pg/url.ts";
import { BackupError, ExitCode, usageError } from "../lib/base/errors.ts";
import { stderrLine, stdoutLine, stdoutText } from "../lib/base/output.ts";
import { drill } from "../lib/check/drill.ts";
import { setInterruptNote } from "../lib/base/interrupt.ts";
import { interruptNote } from "../lib/restore/view.ts";
import { formatVerify, verifyBackup, type VerifyReport } from "../lib/check/verify.ts";
import { archivesInGit, latestInGit } from "../lib/store/git.ts";
import { gitBackupAt } from "../lib/history/backups.ts";
import { allBackups, namesGitRevision } from "../lib/store/from.ts";
import { looksLikeTime } from "../lib/store/asof.ts";
import { gitBackupReader } from "../lib/store/revision.ts";
import { readManifest } from "../lib/store/manifest.ts";
import { type BlobMemo, verifyBlobs } from "../lib/storage/verify.ts";
import { S3Client, s3Settings } from "../lib/store/s3.ts";
import { readMap, type StorageMap } from "../lib/storage/map.ts";
import { blobRootOf } from "../lib/storage/blobs.ts";
import { drillFiles, type FilesDrillResult } from "../lib/storage/drill.ts";
import { type BlobSource, blobSourceOf, manifestOfSource } from "../lib/storage/remote.ts";
import { openingPlain } from "../lib/storage/seal.ts";

/** The target-storage flags, read by the drill of a backup with Storage files. */
const TARGET_STORAGE = [
  "target-storage-endpoint",
  "target-storage-region",
  "target-storage-access-key-id",
  "target-storage-secret-access-key",
] as const;

/** What the drill needs to drill a backup's Storage files, or why it does not (`skipped`). */
type FilesDrill = { s3: S3Client; map: StorageMap; blobs: BlobSource } | { skipped: string } | undefined;

/**
 * For a backup with Storage files: the TARGET Storage server for the scratch buckets
 * (`--target-storage-*` / `$RESTORE_S3_*`, checked before anything is written; exit 2 when only
 * some are given), or why the files are not drilled when none is. Undefined without Storage files.
 */
async function filesDrill(
  args: ParsedArgs,
  dir: BackupSource,
  log: (l: string) => void,
): Promise<FilesDrill> {
  const map = await readMap(dir, await manifestOfSource(dir, readManifest), {
    identityFile: optionalString(args, "identity-file"),
  });
  if (!map) return undefined;
  const [endpoint, region, accessKeyId, secretAccessKey] = TARGET_STORAGE.map((f) => optionalString(args, f));
  if (![endpoint, region, accessKeyId, secretAccessKey].some((v) => v !== undefined && v !== "")) {
    return {
      skipped:
        "Storage files not drilled: give a Storage server for scratch buckets (--target-storage-endpoint, -region, -access-key-id, -secret-access-key or $RESTORE_S3_*)",
    };
  }
  const s3 = new S3Client(s3Settings({ endpoint, region, accessKeyId, secretAccessKey }, "target"), {
    retries: intValue(args, "retries"),
    log,
  });
  await s3.listBuckets(); // endpoint and keys, before the database drill writes anything
  const blobs = openingPlain(await blobSourceOf(dir, blobRootOf), {
    identityFile: optionalString(args, "identity-file"),
  });
  return { s3, map, blobs };
}

/** The Storage drill's lines for the text output. Pure. */
function filesDrillLines(f: FilesDrillResult): string[] {
  return [
    ...f.mismatches.map((m) => `MISMATCH storage ${m.file}: ${m.problem}`),
    `${f.matched}/${f.files} Storage files match (bytes and metadata, restored into scratch buckets on ${f.endpoint}${
      f.cleanup ? "; NOT removed" : ", removed after"
    })`,
  ];
}
import type { BackupSource } from "../lib/store/reader.ts";
import { listBackups, openStoredBackup } from "../lib/store/remoteread.ts";

/**
 * A verify report with its Storage blobs checked too (`blobs`: how many, when the backup has them;
 * `encrypted`: its encrypted files, and whether their contents were decrypted).
 */
type Checked = VerifyReport & { blobs?: number; encrypted?: { files: number; decrypted: boolean } };

/** {@link verifyBackup}, then the backup's Storage blobs (lib/storage/verify.ts), faults together. */
async function verifyWithBlobs(
  dir: BackupSource,
  label: string,
  decode: { identityFile?: string; jobs: number },
  memo?: BlobMemo,
): Promise<Checked> {
  const report: Checked = await verifyBackup(dir, label, decode);
  const m = await manifestOfSource(dir, readManifest).catch(() => undefined);
  if (!m?.storage) return report;
  const b = await verifyBlobs(dir, m, { ...decode, memo });
  report.faults.push(...b.faults);
  return { ...report, blobs: b.blobs, ...(b.encrypted ? { encrypted: b.encrypted } : {}) };
}

/** One line per backup with Storage files, for the text output. Pure. */
function blobLines(reports: Checked[]): string {
  return reports.filter((r) => r.blobs !== undefined).map((r) =>
    `storage ${r.label}: ${r.blobs} blob(s) checked against their sha256` +
    (!r.encrypted
      ? ""
      : r.encrypted.decrypted
      ? `; ${r.encrypted.files} encrypted file(s) decrypted and checked against the map`
      : `; the contents of ${r.encrypted.files} encrypted file(s) were not checked (give --identity-file to decrypt them)`)
  ).join("\n");
}

function faultError(reports: VerifyReport[]): BackupError {
  const bad = reports.filter((r) => r.faults.length > 0);
  const first = bad[0];
  const f = first.faults[0];
  const more = bad.reduce((n, r) => n + r.faults.length, 0) - 1;
  return new BackupError(
    `verify failed: ${first.label}: ${f.problem} ${f.file} (${f.detail})${
      more > 0 ? `, and ${more} more fault(s)` : ""
    }`,
    {
      hint: "restore from another backup (--from <archive>) and re-run the backup to replace the damaged one",
    },
  );
}

/**
 * The one backup `--from` names, for verify and the drill: in the object store of `--store`, a
 * backup in a git commit for `<rev>:<path>` (streamed with git cat-file, nothing checked out), or a
 * folder under `--out`.
 */
async function oneBackup(
  args: ParsedArgs,
  env: Record<string, string | undefined>,
  from: string,
): Promise<{ dir: BackupSource; label: string }> {
  if (optionalString(args, "store") !== undefined || !(await namesGitRevision(from))) {
    return await backupSource(args, env);
  }
  if (looksLikeTime(from)) {
    throw usageError(
      `--from '${from}' is a time, not a backup`,
      "'backup.ts list' shows each backup's name and time; give the name, or a <rev>:<path> of git history",
    );
  }
  const g = await gitBackupAt(rootFromArgs(args), from, "--from");
  return { dir: gitBackupReader(g), label: g.label };
}

/**
 * The backups to verify: the one `--from` names, or all with `--all`, in the object store of
 * `--store`, in a git commit, or under `--out`. Throws a usage error when there are none.
 */
async function chosenBackups(
  args: ParsedArgs,
  env: Record<string, string | undefined>,
  from: string,
): Promise<{ dir: BackupSource; label: string }[]> {
  const all = boolValue(args, "all");
  if (!all) return [await oneBackup(args, env, from)];
  const store = await storeFromArgs(args, env);
  if (store) {
    const out: { dir: BackupSource; label: string }[] = [];
    for (const b of await listBackups(store)) {
      const o = await openStoredBackup(store, b.name).catch(() => undefined);
      out.push(o ? { dir: o.reader, label: o.label } : { dir: `${store.display}/${b.key}`, label: b.name });
    }
    if (out.length === 0) {
      throw usageError(`no backups in ${store.display}`, "run 'backup.ts backup --store …' first");
    }
    return out;
  }
  const root = rootFromArgs(args);
  const backups: { dir: BackupSource; label: string }[] = await allBackups(root);
  // the backups a sparse checkout keeps in git only (without backups: all) are read from HEAD
  const latest = await latestInGit(root);
  const archives = (await archivesInGit(root)).sort((a, b) => a.name < b.name ? -1 : 1);
  for (const [i, a] of [...(latest ? [latest] : []), ...archives].entries()) {
    const g = await gitBackupAt(root, `HEAD:${a.path}`, "--all");
    backups.splice(latest && i === 0 ? 0 : backups.length, 0, { dir: gitBackupReader(g), label: g.label });
  }
  if (backups.length === 0) {
    throw usageError(
      `no backups in ${root}`,
      "run 'backup.ts backup' first, or point --out at the backup root",
    );
  }
  return backups;
}

/** Runs `backup.ts verify`; returns the exit code. */
export async function run(args: ParsedArgs): Promise<number> {
  const json = boolValue(args, "json");
  const jobs = intValue(args, "jobs");
  const decode = { identityFile: optionalString(args, "identity-file"), jobs };
  const from = stringValue(args, "from");
  const env = Deno.env.toObject();
  if (boolValue(args, "drill")) {
    setInterruptNote(interruptNote("running", { drill: true }));
    if (boolValue(args, "all")) {
      throw usageError("--drill and --all exclude each other", "drill one backup at a time");
    }
    const target = await targetUrl(args, env);
    const { dir, label } = await oneBackup(args, env, from);
    const report = await verifyWithBlobs(dir, label, decode);
    if (report.faults.length > 0) {
      if (!json) stdoutText(formatVerify([report]));
      throw faultError([report]);
    }
    // One message per call: the restorer prints its plan a line at a time, names escaped.
    const log = (line: string) => stderrLine(line);
    const files = await filesDrill(args, dir, log);
    const r = await drill(dir, target, {
      label,
      jobs,
      ...connectionSettings(args),
      pgBin: optionalString(args, "pg-bin"),
      decode,
      log,
      onCommit: (phase) => setInterruptNote(interruptNote(phase, { drill: true })),
    });
    const storage = files && "s3" in files
      ? await drillFiles(files.map, { s3: files.s3, blobs: files.blobs, jobs, log })
      : files;
    if (json) {
      stdoutText(JSON.stringify(
        {
          from: label,
          target: describeDb(target),
          files: report.files,
          matched: r.matched,
          total: r.total,
          mismatches: r.mismatches,
          warnings: r.restore.warnings,
          durationMs: r.restore.durationMs,
          ...(storage ? { storage } : {}),
        },
        null,
        2,
      ));
    } else {
      stdoutLine(`${report.files} files match the manifest`);
      for (const m of r.mismatches) {
        stdoutLine(
          `MISMATCH ${m.table}: manifest ${m.expected} rows, restored ${m.actual ?? `? (${m.error})`}`,
        );
      }
      stdoutLine(`${r.matched}/${r.total} tables match`);
      if (storage) {
        for (const l of "skipped" in storage ? [storage.skipped] : filesDrillLines(storage)) stdoutLine(l);
      }
    }
    if (r.mismatches.length > 0) {
      const m = r.mismatches[0];
      throw new BackupError(
        `drill failed: ${r.mismatches.length} of ${r.total} tables differ from the manifest, first ${m.table} ` +
          `(manifest ${m.expected} rows, restored ${m.actual ?? "none"})`,
        {
          hint:
            "the backup does not restore as recorded; keep the older archives and investigate before pruning",
        },
      );
    }
    if (storage && "mismatches" in storage && storage.mismatches.length > 0) {
      const m = storage.mismatches[0];
      throw new BackupError(
        `drill failed: ${storage.mismatches.length} of ${storage.files} Storage files differ from the backup, first ${m.file} (${m.problem})`,
        {
          hint:
            "the files do not restore as backed up; run 'backup.ts verify', keep the older archives and investigate before pruning",
        },
      );
    }
    return ExitCode.ok;
  }
  const backups = await chosenBackups(args, env, from);
  const reports: Checked[] = [];
  const memo: BlobMemo = new Map(); // a Storage blob several backups share is read once
  for (const b of backups) reports.push(await verifyWithBlobs(b.dir, b.label, decode, memo));
  const blobs = blobLines(reports);
  stdoutText(
    json
      ? JSON.stringify({ backups: reports }, null, 2)
      : formatVerify(reports) + (blobs ? `\n${blobs}` : ""),
  );
  if (reports.some((r) => r.faults.length > 0)) throw faultError(reports);
  return ExitCode.ok;
}
