/**
 * The `verify` command: check backup files against their manifest, and Storage blobs against their
 * sha256; `--drill` restores the backup into a scratch database and compares every table's row count
 * with the manifest.
 * @module
 */
import { boolValue, intValue, optionalString, type ParsedArgs, stringValue } from "../lib/cli/flags.ts";
import { connectionSettings, rootFromArgs, targetUrl } from "../lib/cli/args.ts";
import { describeDb } from "../lib/pg/url.ts";
import { BackupError, ExitCode, usageError } from "../lib/base/errors.ts";
import { stderrLine, stdoutLine, stdoutText } from "../lib/base/output.ts";
import { drill } from "../lib/check/drill.ts";
import { setInterruptNote } from "../lib/base/interrupt.ts";
import { formatVerify, verifyBackup, type VerifyReport } from "../lib/check/verify.ts";
import { allBackups, resolveFrom } from "../lib/store/listing.ts";
import { readManifest } from "../lib/store/manifest.ts";
import { verifyBlobs } from "../lib/storage/verify.ts";

/** A verify report with its Storage blobs checked too (`blobs`: how many, when the backup has them). */
type Checked = VerifyReport & { blobs?: number };

/** {@link verifyBackup}, then the backup's Storage blobs (lib/storage/verify.ts), faults together. */
async function verifyWithBlobs(
  dir: string,
  label: string,
  decode: { identityFile?: string; jobs: number },
): Promise<Checked> {
  const report: Checked = await verifyBackup(dir, label, decode);
  const m = await readManifest(dir).catch(() => undefined);
  if (!m?.storage) return report;
  const b = await verifyBlobs(dir, m, decode);
  report.faults.push(...b.faults);
  return { ...report, blobs: b.blobs };
}

/** One line per backup with Storage files, for the text output. Pure. */
function blobLines(reports: Checked[]): string {
  return reports.filter((r) => r.blobs !== undefined).map((r) =>
    `storage ${r.label}: ${r.blobs} blob(s) checked against their sha256`
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

/** Runs `backup.ts verify`; returns the exit code. */
export async function run(args: ParsedArgs): Promise<number> {
  const json = boolValue(args, "json");
  const jobs = intValue(args, "jobs");
  const decode = { identityFile: optionalString(args, "identity-file"), jobs };
  const root = rootFromArgs(args);
  const from = stringValue(args, "from");
  if (boolValue(args, "drill")) {
    setInterruptNote("the drill target may hold part of the backup; drop it or drill into a new database");
    if (boolValue(args, "all")) {
      throw usageError("--drill and --all exclude each other", "drill one backup at a time");
    }
    const target = await targetUrl(args, Deno.env.toObject());
    const { dir, label } = await resolveFrom(root, from);
    const report = await verifyWithBlobs(dir, label, decode);
    if (report.faults.length > 0) {
      if (!json) stdoutText(formatVerify([report]));
      throw faultError([report]);
    }
    // One message per call: the restorer prints its plan a line at a time, names escaped.
    const log = (line: string) => stderrLine(line);
    const r = await drill(dir, target, {
      label,
      jobs,
      ...connectionSettings(args),
      pgBin: optionalString(args, "pg-bin"),
      decode,
      log,
    });
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
    return ExitCode.ok;
  }
  const backups = boolValue(args, "all") ? await allBackups(root) : [await resolveFrom(root, from)];
  if (backups.length === 0) {
    throw usageError(
      `no backups in ${root}`,
      "run 'backup.ts backup' first, or point --out at the backup root",
    );
  }
  const reports: Checked[] = [];
  for (const b of backups) reports.push(await verifyWithBlobs(b.dir, b.label, decode));
  const blobs = blobLines(reports);
  stdoutText(
    json
      ? JSON.stringify({ backups: reports }, null, 2)
      : formatVerify(reports) + (blobs ? `\n${blobs}` : ""),
  );
  if (reports.some((r) => r.faults.length > 0)) throw faultError(reports);
  return ExitCode.ok;
}
