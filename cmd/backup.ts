/**
 * The `backup` command: resolve the databases to back up, run one backup per environment into
 * a staging directory, put it in place (archiving the previous latest, or committing and pushing),
 * prune, and print the summary.
 * @module
 */
import { hostname } from "node:os";
import { appendStepSummary, backupEnabled } from "../lib/base/actions.ts";
import { backupRoot, installBackup } from "../lib/store/rotation.ts";
import { StagingOwner } from "../lib/store/staging.ts";
import { type Claimed, claimLeftovers, installRecovered, removeGarbage } from "../lib/store/leftover.ts";
import {
  boolValue,
  intValue,
  listValue,
  optionalString,
  type ParsedArgs,
  stringValue,
} from "../lib/cli/flags.ts";
import {
  connectionSettings,
  gitIdentity,
  policyFromArgs,
  storeFromArgs,
  warnIfOnCommandLine,
} from "../lib/cli/args.ts";
import { describeDb, parseDbUrl, transactionPoolerHint } from "../lib/pg/url.ts";
import { runBackup } from "../lib/backup/execute.ts";
import { makeEncoder } from "../lib/store/encode.ts";
import { encodeSettings } from "../lib/cli/encoding.ts";
import { BackupError, ExitCode, usageError, worseExit } from "../lib/base/errors.ts";
import { checkPushable, commitMessage, publishToGit, rootInGitOnly } from "../lib/store/git.ts";
import { onCleanup } from "../lib/base/interrupt.ts";
import type { ManifestSource } from "../lib/store/manifest.ts";
import { notifyWebhook } from "../lib/report/notify.ts";
import { withPgpass } from "../lib/pg/pgpass.ts";
import { GIT_DUMP_COMPRESSION, type PlanOptions } from "../lib/backup/plan.ts";
import { parseQualifiedName } from "../lib/pg/ident.ts";
import { redact } from "../lib/base/redact.ts";
import { stderrLine, stdoutLine, stdoutText } from "../lib/base/output.ts";
import { policyFromConfig, type RetentionPolicy, runPolicy } from "../lib/store/retention.ts";
import { formatBytes, parseSize } from "../lib/base/size.ts";
import {
  type BackupSummary,
  formatSummary,
  formatTotalLine,
  summaryJson,
  summaryMarkdown,
} from "../lib/report/summary.ts";
import { type BackupTarget, confirmBackup, resolveTargets, storageValuesFor } from "../lib/cli/sources.ts";
import { applyConfig, loadConfig } from "../lib/cli/config.ts";
import { formatPlan } from "../lib/backup/view.ts";
import { S3Client, type S3Settings, s3Settings, type S3Values } from "../lib/store/s3.ts";
import type { BucketSelection } from "../lib/storage/catalog.ts";
import { placeBlobs, storeDir } from "../lib/storage/blobs.ts";
import { type FileProgress, storageStep } from "../lib/storage/backup.ts";
import { pruneAndSweep, StoreLock, sweepBlobs } from "../lib/storage/gc.ts";
import { checkRecoveredBlobs } from "../lib/storage/recover.ts";
import { Sealer } from "../lib/storage/seal.ts";
import { LATEST } from "../lib/store/rotation.ts";
import { join } from "node:path";
import { GROWTH_HINT, type GrowthProjection, growthWarning, projectGrowth } from "../lib/store/growth.ts";
import type { ObjectStore } from "../lib/store/object.ts";
import { dumpHashes, publishBackup, recipientsId } from "../lib/store/publish.ts";
import type { StoreIndex } from "../lib/store/remotelayout.ts";
import { formatBlobStep, pruneStore } from "../lib/store/remoteprune.ts";
import { type HeldLock, takeBackupLock } from "../lib/store/remotelock.ts";
import { latestBackup, listBackups, StoredBackupReader } from "../lib/store/remoteread.ts";
import { presentBlobs, storageBlobRefs, StoreBlobSink, storeBucketOfSource } from "../lib/storage/remote.ts";
import { S3ObjectStore } from "../lib/store/s3store.ts";
import type { Manifest } from "../lib/store/manifest.ts";

/** Options shared by every environment of one run. */
interface RunOptions {
  out: string;
  jobs: number;
  ipv4: boolean;
  connectTimeout: number;
  retries: number;
  maxFileSize: number;
  pgBin?: string;
  source: ManifestSource;
  dryRun: boolean;
  archive: boolean;
  commit: boolean;
  push: boolean;
  identity: { name: string; email: string };
  json: boolean;
  policy?: RetentionPolicy;
  /** `--keep-all`: no default retention. */
  keepAll: boolean;
  selection: PlanOptions;
  encode: ReturnType<typeof makeEncoder>;
  /** `--encrypt-to` / `--recipients-file` given. */
  encrypted: boolean;
  /** The age recipients of `--encrypt-to`/`--recipients-file` (the store records which). */
  recipients: string[];
  /** `--store` was given (the store of each environment is opened in {@link backupOne}). */
  store: boolean;
  /**
   * `--storage`: the source project's S3 values as given and the buckets to take; `settings` is set
   * by {@link run} once the targets are known (the keys may come from their Key Vault).
   */
  storage?: { values: S3Values; settings?: S3Settings; buckets: BucketSelection };
}

/** With `--encrypt-to`: the sealer that encrypts Storage files to the same recipients as the database files. */
async function sealerFor(recipients: string[]): Promise<{ seal?: Sealer }> {
  const id = recipientsId(recipients);
  return id ? { seal: await Sealer.open(recipients, id) } : {};
}

/** The `--storage` options, checked before anything connects (usage errors, exit 2). */
function readStorageOptions(args: ParsedArgs): RunOptions["storage"] {
  const buckets = { include: listValue(args, "bucket"), exclude: listValue(args, "exclude-bucket") };
  if (!boolValue(args, "storage")) {
    if (buckets.include.length || buckets.exclude.length) {
      throw usageError(
        "--bucket and --exclude-bucket need --storage",
        "add --storage to back up Storage files",
      );
    }
    return undefined;
  }
  return {
    values: {
      endpoint: optionalString(args, "storage-endpoint"),
      region: optionalString(args, "storage-region"),
      accessKeyId: optionalString(args, "storage-access-key-id"),
      secretAccessKey: optionalString(args, "storage-secret-access-key"),
    },
    buckets,
  };
}

function readOptions(args: ParsedArgs): RunOptions {
  const scope = stringValue(args, "scope");
  if (scope !== "full" && scope !== "user") {
    throw usageError(
      `${args.origin.scope ?? "--scope"} must be full or user, got '${scope}'`,
      "use --scope full (default) or --scope user",
    );
  }
  const sha = stringValue(args, "sha");
  const ref = optionalString(args, "ref");
  if (boolValue(args, "keep-all") && policyFromArgs(args)) {
    throw usageError(
      `${args.origin["keep-all"] ?? "--keep-all"} cannot be combined with --keep-* flags`,
      "use --keep-all to prune nothing, or --keep-* flags to choose what to keep",
    );
  }
  return {
    out: stringValue(args, "out"),
    jobs: intValue(args, "jobs"),
    ...connectionSettings(args),
    maxFileSize: parseSize(
      stringValue(args, "max-file-size"),
      args.origin["max-file-size"] ?? "--max-file-size",
    ),
    pgBin: optionalString(args, "pg-bin"),
    source: {
      repo: stringValue(args, "source-repo"),
      event: optionalString(args, "event") ?? (args.values["source-repo"] ? "unknown" : hostname()),
      sha,
      ...(ref ? { ref } : {}),
    },
    dryRun: boolValue(args, "dry-run"),
    archive: !boolValue(args, "no-archive"),
    commit: boolValue(args, "commit") || boolValue(args, "push"),
    push: boolValue(args, "push"),
    identity: gitIdentity(args),
    json: boolValue(args, "json"),
    policy: policyFromArgs(args),
    keepAll: boolValue(args, "keep-all"),
    selection: {
      scope,
      schemas: listValue(args, "schema"),
      excludeTables: listValue(args, "exclude-table").map((t) => parseQualifiedName(t, "--exclude-table")),
    },
    encode: makeEncoder(encodeSettings(args)),
    encrypted: listValue(args, "encrypt-to").length > 0 ||
      optionalString(args, "recipients-file") !== undefined,
    recipients: encodeSettings(args).recipients,
    store: readStoreOptions(args),
    storage: readStorageOptions(args),
  };
}

/** Whether `--store` is given, refusing the flags that have no meaning with it (exit 2). */
function readStoreOptions(args: ParsedArgs): boolean {
  if (optionalString(args, "store") === undefined) return false;
  const origin = args.origin.store ?? "--store";
  for (const flag of ["commit", "push", "no-archive"] as const) {
    if (boolValue(args, flag)) {
      throw usageError(
        `--${flag} cannot be combined with ${origin}`,
        "an object store keeps every backup under its own name; drop the flag",
      );
    }
  }
  return true;
}

async function ensureRoot(root: string, origin: string): Promise<void> {
  try {
    await Deno.mkdir(root, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw usageError(
      `${origin} '${root}' cannot be created: ${(e as Error).message.split(" (")[0]}`,
      "choose a writable directory with --out",
    );
  }
}

/**
 * The progress of the table files: a bar on a terminal (`dax`, loaded only then: about 9 MB of
 * resident memory that a backup in CI would otherwise carry to its end), else a line every 10 %.
 */
function progress(
  total: number,
  log: (l: string) => void,
  dax?: typeof import("dax").default,
): (done: number, all: number) => void {
  if (dax) {
    const bar = dax.progress("Backing up tables", { length: total });
    return (done) => {
      bar.position(done);
      if (done >= total) bar.finish();
    };
  }
  let lastPct = -1;
  return (done, all) => {
    const pct = Math.floor((done / Math.max(1, all)) * 10);
    if (pct !== lastPct || done === all) {
      lastPct = pct;
      log(`tables ${done}/${all}`);
    }
  };
}

async function backupOne(target: BackupTarget, o: RunOptions, args: ParsedArgs): Promise<BackupSummary> {
  if (target.error) throw target.error;
  const started = Date.now();
  const env = Deno.env.toObject();
  const label = target.env ? `[${target.env}] ` : "";
  // every warning of the run goes in its summary too (and --json), not only on stderr
  const warnings: string[] = [];
  const log = (l: string) => {
    if (l.startsWith("warning: ")) warnings.push(l.slice("warning: ".length));
    stderrLine(`${label}${l}`);
  };
  const parsed = warnIfOnCommandLine(parseDbUrl(target.url, target.urlOrigin, env), target.urlOrigin);
  const url = await withPgpass(parsed, env, log);
  const pooler = transactionPoolerHint(url);
  if (pooler) throw usageError(`${target.urlOrigin} points at the transaction pooler (port 6543)`, pooler);
  const root = backupRoot(o.out, target.env);
  const selection: PlanOptions = {
    scope: args.values.scope !== undefined ? o.selection.scope : target.scope ?? o.selection.scope,
    schemas: o.selection.schemas.length ? o.selection.schemas : target.schemas ?? [],
    excludeTables: o.selection.excludeTables.length
      ? o.selection.excludeTables
      : (target.excludeTables ?? []).map((t) => parseQualifiedName(t, "excludeTables")),
  };
  const store = o.store ? await storeFromArgs(args, env, { log, target: { env: target.env } }) : undefined;
  if (store) {
    const s = await backupToStore(store, {
      target,
      o,
      url,
      selection,
      started,
      log,
      policy: storePolicy(target, o),
    });
    return warnings.length > 0 ? { ...s, warnings } : s;
  }
  if (o.commit && o.storage && !o.dryRun && await rootInGitOnly(root)) {
    throw usageError(
      `--storage cannot back up into ${root}: the clone holds no backups (a sparse checkout that leaves them out)`,
      "add the root to the checkout (git sparse-checkout add /<its path>/), or keep Storage files in an object store (--store)",
    );
  }
  let s3: S3Client | undefined;
  if (o.storage?.settings) {
    s3 = new S3Client(o.storage.settings, { retries: o.retries, log });
    await s3.listBuckets(); // endpoint and keys are checked before anything is written
  }
  let staging = "";
  let holder = ""; // Storage downloads, linked into <root>/storage/blobs before latest/ changes
  let owner: StagingOwner | undefined;
  let storeLock: StoreLock | undefined; // held shared while this run relies on the blob store
  let claimed: Claimed = { recovered: [], garbage: [] };
  let inGitOnly = false; // the clone holds no backups: the root on disk was only for staging
  // the folders go before the lock: while the lock is held, no other run takes them
  const release = () => {
    if (staging) Deno.removeSync(staging, { recursive: true });
    if (holder) Deno.removeSync(holder, { recursive: true });
    staging = holder = "";
    storeLock?.release();
    owner?.releaseSync();
  };
  const dropStaging = onCleanup(release);
  try {
    if (!o.dryRun) {
      if (o.push) await checkPushable({ root }); // before anything is written
      await ensureRoot(root, args.origin.out ?? "--out");
      owner = await StagingOwner.open(root);
      // no sweep deletes a blob this run found in the store, reuses or recovers (lib/storage/gc.ts)
      if (s3 || await Deno.stat(storeDir(root)).then(() => true, () => false)) {
        storeLock = await StoreLock.share(root);
      }
      // Complete backups that dead runs left are put back before connecting (with git: in the
      // commit of this backup); what is left of them is removed only after this run succeeded.
      claimed = await claimLeftovers(owner, { environment: target.env, log });
      if (
        !storeLock && [...claimed.recovered.map((r) => r.manifest), claimed.restored].some((m) => m?.storage)
      ) {
        storeLock = await StoreLock.share(root); // no store yet: the blobs are in the dead run's holder
      }
      if (storeLock) await checkRecoveredBlobs(root, claimed, log);
      if (!o.commit) await installRecovered(owner, claimed, { archive: o.archive, log });
      staging = await owner.createDir();
      if (s3) {
        holder = owner.path("blobs");
        await Deno.mkdir(holder, { mode: 0o700 });
      }
    }
    const storage = s3 && o.storage
      ? storageStep({
        s3,
        root,
        holder,
        jobs: o.jobs,
        retries: o.retries,
        maxFileSize: o.maxFileSize,
        ...(await sealerFor(o.recipients)),
        selection: o.storage.buckets,
        previousDir: await Deno.stat(join(root, LATEST)).then((i) =>
          i.isDirectory ? join(root, LATEST) : undefined
        )
          .catch(() => undefined),
        log,
        onProgress: fileProgress(log),
      })
      : undefined;
    const run = await dumpInto(staging, {
      target,
      o,
      url,
      selection,
      log,
      encode: o.encode,
      storage,
      // git compresses and deltas dumps itself: uncompressed ones add only what changed (not encrypted)
      ...(o.commit && !o.encrypted ? { dumpCompression: GIT_DUMP_COMPRESSION } : {}),
    });
    if (o.dryRun || !run.manifest) {
      stdoutText(
        formatPlan(run.plan, { environment: target.env, root, connection: describeDb(url), json: o.json }),
      );
      return {
        environment: target.env,
        status: "dry-run",
        connection: describeDb(url),
        durationMs: Date.now() - started,
        notes: [],
      };
    }
    const m = run.manifest;
    const notes: string[] = [];
    const policy = runPolicy({
      flags: o.policy,
      config: target.retention ? policyFromConfig(target.retention) : undefined,
      commit: o.commit,
      keepAll: o.keepAll,
    });
    let pruned = 0; // after a push race the prune runs again on the remote head: that run counts
    const prune = async () => {
      // after a push race the reset took this run's new blobs out of the work tree: put them back
      if (holder) await placeBlobs(holder, root);
      if (holder && !o.archive && !policy) await sweepBlobs(root, { lock: storeLock });
      if (!policy) return;
      const decisions = await pruneAndSweep(root, policy, {
        dryRun: false,
        now: new Date(),
        warn: log,
        lock: storeLock,
      });
      pruned = decisions.filter((p) => !p.keep).length;
    };
    if (holder) await placeBlobs(holder, root);
    let placedAt: string;
    let archivedPrevious: string | undefined;
    let repository: GrowthProjection | undefined;
    if (o.commit) {
      const tables = m.schemas.reduce((n, s) => n + s.tables.length, 0);
      const r = await publishToGit({
        root,
        stagedDir: staging,
        archive: o.archive,
        push: o.push,
        message: commitMessage({ env: target.env, source: m.source, status: m.status, tables }),
        identity: o.identity,
        afterInstall: prune,
        growth: true,
        log,
        owner: owner!,
        recovered: claimed.recovered.map((r) => r.dir),
      });
      placedAt = r.placedAt;
      archivedPrevious = r.archivedPrevious;
      inGitOnly = r.inGitOnly;
      if (r.growth) {
        repository = projectGrowth(r.growth, new Date());
        const warning = growthWarning(repository);
        if (warning) {
          stderrLine(`${label}warning: ${warning}`); // the summary has it already (repository)
          log(`hint: ${GROWTH_HINT}`);
        }
      }
      notes.push(
        `committed ${r.commit.slice(0, 7)}${o.push ? ` and pushed (${r.attempts} attempt(s))` : ""}${
          inGitOnly ? ", kept in git only (the clone holds no backups)" : ""
        }`,
      );
    } else {
      const r = await installBackup(root, staging, { archive: o.archive, log, owner: owner! });
      placedAt = r.placedAt;
      archivedPrevious = r.archivedPrevious;
      await prune();
    }
    if (pruned > 0) notes.unshift(`pruned ${pruned} archive(s)`);
    staging = "";
    await removeGarbage(claimed.garbage);
    return {
      environment: target.env,
      status: m.status,
      location: `${root}/${placedAt}`,
      ...(archivedPrevious ? { archivedPrevious: `${root}/${archivedPrevious}` } : {}),
      connection: describeDb(url),
      manifest: m,
      durationMs: Date.now() - started,
      notes,
      ...(warnings.length > 0 ? { warnings } : {}),
      ...(repository ? { repository } : {}),
    };
  } finally {
    dropStaging();
    if (staging) await Deno.remove(staging, { recursive: true }).catch(() => {});
    if (holder) await Deno.remove(holder, { recursive: true }).catch(() => {});
    staging = holder = "";
    release();
    if (inGitOnly) await Deno.remove(root).catch(() => {}); // once empty
  }
}

/** Runs the backup of one environment into `staging` (lib/backup/execute.ts), with progress on stderr. */
async function dumpInto(
  staging: string,
  c: {
    target: BackupTarget;
    o: RunOptions;
    url: Awaited<ReturnType<typeof withPgpass>>;
    selection: PlanOptions;
    log: (l: string) => void;
    encode: RunOptions["encode"];
    storage?: Parameters<typeof runBackup>[0]["storage"];
    dumpCompression?: Parameters<typeof runBackup>[0]["dumpCompression"];
  },
): ReturnType<typeof runBackup> {
  const { o, log } = c;
  let tick: ((d: number, a: number) => void) | undefined;
  const dax = Deno.stderr.isTerminal() ? (await import("dax")).default : undefined;
  return await runBackup({
    ...c.selection,
    url: c.url,
    environment: c.target.env,
    ipv4: o.ipv4,
    connectTimeout: o.connectTimeout,
    retries: o.retries,
    jobs: o.jobs,
    maxFileSize: o.maxFileSize,
    pgBin: o.pgBin,
    source: o.source,
    stagingDir: staging,
    dryRun: o.dryRun,
    encode: c.encode,
    ...(c.dumpCompression !== undefined ? { dumpCompression: c.dumpCompression } : {}),
    storage: c.storage,
    log,
    onTable: (done, total) => {
      tick ??= progress(total, log, dax);
      tick(done, total);
    },
  });
}

/** The retention policy of one environment: the config's, unless flags give one. */
function storePolicy(target: BackupTarget, o: RunOptions): RetentionPolicy | undefined {
  return runPolicy({
    flags: o.policy,
    config: target.retention ? policyFromConfig(target.retention) : undefined,
    commit: false,
    keepAll: o.keepAll,
  });
}

/**
 * One environment's backup into an object store: staged in a temp folder (0700, removed at the
 * end, also on interrupt), checked, then published (lib/store/publish.ts) and pruned by `policy`.
 */
async function backupToStore(
  store: ObjectStore,
  c: {
    target: BackupTarget;
    o: RunOptions;
    url: Awaited<ReturnType<typeof withPgpass>>;
    selection: PlanOptions;
    started: number;
    log: (l: string) => void;
    policy?: RetentionPolicy;
  },
): Promise<BackupSummary> {
  const { target, o, url, log } = c;
  let s3: S3Client | undefined;
  if (o.storage?.settings) {
    s3 = new S3Client(o.storage.settings, { retries: o.retries, log });
    await s3.listBuckets(); // endpoint and keys are checked before anything is written
  }
  let staging = o.dryRun ? "" : await Deno.makeTempDir({ prefix: "supabase-backup-store-" });
  // Storage downloads, each uploaded to the store and removed as soon as it is complete
  let holder = o.dryRun || !s3 ? "" : await Deno.makeTempDir({ prefix: "supabase-backup-blobs-" });
  let lock: HeldLock | undefined;
  /** The store's latest backup, when the Storage step read it (publishBackup reuses it). */
  let previous: Awaited<ReturnType<typeof latestBackup>> | undefined;
  const drop = onCleanup(() => {
    if (staging) Deno.removeSync(staging, { recursive: true });
    if (holder) Deno.removeSync(holder, { recursive: true });
    staging = holder = "";
  });
  try {
    let storage: ReturnType<typeof storageStep> | undefined;
    let sink: StoreBlobSink | undefined;
    if (s3 && o.storage?.settings) {
      if (!o.dryRun) {
        // held from before the store's blobs are listed until the manifest is written: no prune
        // deletes a blob this backup reuses or has uploaded but not yet referenced
        lock = await takeBackupLock(store, { log });
        sink = new StoreBlobSink(store, holder, await presentBlobs(store));
      }
      previous = o.dryRun ? undefined : await latestBackup(store);
      const prev = previous?.latest;
      const own = storeBucketOfSource(
        store instanceof S3ObjectStore ? store.location : undefined,
        o.storage.settings.endpoint,
      );
      if (own && !o.storage.buckets.exclude.includes(own)) {
        log(`notice: storage: bucket ${own} holds ${store.display} itself; it is left out of the backup`);
      }
      storage = storageStep({
        s3,
        root: holder,
        holder,
        ...(sink ? { sink } : {}),
        jobs: o.jobs,
        retries: o.retries,
        maxFileSize: Number.MAX_SAFE_INTEGER, // an object store takes any size (multipart): never cut
        ...(await sealerFor(o.recipients)),
        selection: own
          ? { ...o.storage.buckets, exclude: [...o.storage.buckets.exclude, own] }
          : o.storage.buckets,
        previousDir: prev ? new StoredBackupReader(store, prev.backup, prev.manifest) : undefined,
        log,
        onProgress: fileProgress(log),
      });
    }
    // The store is listed before the database is dumped (unless the Storage step read it already):
    // a missing bucket or container, or keys it refuses, fail at once, not after an hour's dump.
    if (!previous) await listBackups(store);
    const index: StoreIndex = {
      ...(recipientsId(o.recipients) ? { recipients: recipientsId(o.recipients) } : {}),
      dumps: {},
    };
    const encode = async (dir: string, m: Manifest) => {
      index.dumps = await dumpHashes(dir, m); // the plaintext dumps, before they are encoded
      return o.encode ? await o.encode(dir, m) : m;
    };
    const run = await dumpInto(staging, { target, o, url, selection: c.selection, log, encode, storage });
    if (o.dryRun || !run.manifest) {
      stdoutText(
        formatPlan(run.plan, {
          environment: target.env,
          root: store.display,
          connection: describeDb(url),
          json: o.json,
        }),
      );
      return {
        environment: target.env,
        status: "dry-run",
        connection: describeDb(url),
        durationMs: Date.now() - c.started,
        notes: [],
      };
    }
    const p = await publishBackup(store, staging, run.manifest, {
      index,
      jobs: o.jobs,
      log,
      lock,
      ...(previous ? { previous } : {}),
    });
    await lock?.release();
    lock = undefined;
    const notes = [
      `uploaded ${p.uploaded.files} file(s), ${
        formatBytes(p.uploaded.bytes)
      }; ${p.present.files} already in the store`,
    ];
    if (sink) {
      notes.push(
        `uploaded ${sink.uploaded.files} Storage blob(s), ${formatBytes(sink.uploaded.bytes)}`,
      );
    }
    if (c.policy) {
      const r = await pruneStore(store, c.policy, {
        dryRun: false,
        now: new Date(),
        jobs: o.jobs,
        log,
        references: storageBlobRefs(store),
      });
      const pruned = r.decisions.filter((d) => !d.keep).length;
      if (pruned > 0) notes.unshift(`pruned ${pruned} backup(s)`);
      notes.push(formatBlobStep(r, false));
    }
    return {
      environment: target.env,
      status: p.manifest.status,
      location: `${store.display}/${p.key}`,
      connection: describeDb(url),
      manifest: p.manifest,
      durationMs: Date.now() - c.started,
      notes,
    };
  } finally {
    drop();
    await lock?.release();
    if (staging) await Deno.remove(staging, { recursive: true }).catch(() => {});
    if (holder) await Deno.remove(holder, { recursive: true }).catch(() => {});
    staging = holder = "";
  }
}

/** Progress of Storage downloads on stderr: about every 10 %, with files and bytes. */
function fileProgress(log: (l: string) => void): (p: FileProgress) => void {
  let last = -1;
  return (p) => {
    const pct = Math.floor((p.bytes / Math.max(1, p.totalBytes)) * 10);
    if (pct !== last || p.files === p.totalFiles) {
      last = pct;
      log(
        `storage files ${p.files}/${p.totalFiles}, ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}`,
      );
    }
  };
}

/** Runs `backup.ts backup`; returns the exit code (the worst of all environments). */
export async function run(args: ParsedArgs): Promise<number> {
  const env = Deno.env.toObject();
  if (!backupEnabled(env)) {
    stdoutLine(`notice: BACKUP_ENABLED is '${env.BACKUP_ENABLED}'; nothing to do`);
    return ExitCode.ok;
  }
  const config = await loadConfig(args);
  args = applyConfig(args, config);
  const o = readOptions(args);
  const isTTY = Deno.stdin.isTerminal();
  const targets = await resolveTargets(args, { env, isTTY, config: config ?? null });
  if (o.storage && targets.length > 1) {
    // one set of S3 keys names one project: the files would land in every environment's root
    throw usageError(
      `--storage backs up one project's files, and this run backs up ${targets.length} databases`,
      "run one backup per environment (--env prod, then --env dev), each with that project's S3 keys",
    );
  }
  if (o.storage) {
    // the keys not given come from the Key Vault of the connection string, when it has one
    o.storage.settings = s3Settings(await storageValuesFor(o.storage.values, targets[0], { env }), "source");
  }
  if (!o.dryRun && !await confirmBackup(targets, { isTTY, yes: boolValue(args, "yes") })) {
    stderrLine("notice: nothing was backed up");
    return ExitCode.ok;
  }
  const summaries: BackupSummary[] = [];
  let worst: number = ExitCode.ok;
  for (const target of targets) {
    const started = Date.now();
    try {
      const s = await backupOne(target, o, args);
      summaries.push(s);
      if (s.status === "partial") worst = worseExit(worst, ExitCode.partial);
    } catch (e) {
      const err = e instanceof BackupError
        ? e
        : new BackupError(String((e as Error)?.message ?? e), { cause: e });
      const failed: BackupSummary = {
        environment: target.env,
        status: "failed",
        connection: "",
        durationMs: Date.now() - started,
        notes: [],
        error: err.message,
      };
      if (targets.length === 1 && !o.json) {
        // backup.ts prints the error and hint; the step summary and the webhook still hear of it
        await appendStepSummary(redact(summaryMarkdown(failed)), env);
        await notifyFailure(args, env, [failed]);
        throw e;
      }
      stderrLine(`error: ${target.env ? `[${target.env}] ` : ""}${err.message}`);
      if (err.hint) stderrLine(`hint: ${err.hint}`);
      summaries.push(failed);
      worst = worseExit(worst, err.exitCode);
      if (err.exitCode === ExitCode.interrupted || err.exitCode === ExitCode.terminated) break;
    }
  }
  if (o.dryRun) return worst; // the plan was printed (as JSON with --json)
  if (o.json) stdoutText(summaryJson(summaries));
  else {
    for (const s of summaries) if (s.status !== "failed") stdoutText(formatSummary(s));
    if (summaries.length > 1) stdoutText(formatTotalLine(summaries));
  }
  for (const s of summaries) await appendStepSummary(redact(summaryMarkdown(s)), env);
  if (summaries.some((s) => s.status === "failed")) await notifyFailure(args, env, summaries);
  return worst;
}

async function notifyFailure(
  args: ParsedArgs,
  env: Record<string, string | undefined>,
  summaries: BackupSummary[],
) {
  const url = optionalString(args, "notify-webhook");
  if (!url) return;
  await notifyWebhook(url, {
    event: "backup-failed",
    repository: env.GITHUB_REPOSITORY ?? "local",
    run: env.GITHUB_RUN_ID
      ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`
      : null,
    environments: summaries.map((s) => ({
      environment: s.environment ?? null,
      status: s.status,
      error: s.error ?? null,
    })),
  });
}
