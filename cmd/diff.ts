/**
 * The `diff` command: compare two backups, or a backup and the live database, table by table:
 * schema changes, and rows added, removed and changed by primary key. Exit 0 when equal, 1 when
 * different, 2 on bad input. With `--rows` the changed rows follow, as SQL that turns FROM's rows
 * into TO's (or as JSON with `--json`).
 * @module
 */
import { join } from "node:path";
import {
  boolValue,
  flagDefault,
  intValue,
  listValue,
  optionalString,
  type ParsedArgs,
} from "../lib/cli/flags.ts";
import { connectionSettings, rootFromArgs, storeFromArgs, warnIfOnCommandLine } from "../lib/cli/args.ts";
import { listBackups, openStoredBackup } from "../lib/store/remoteread.ts";
import type { ObjectStore } from "../lib/store/object.ts";
import { ExitCode, usageError } from "../lib/base/errors.ts";
import { onCleanup } from "../lib/base/interrupt.ts";
import { stderrLine, stdoutText } from "../lib/base/output.ts";
import { parseSize } from "../lib/base/size.ts";
import { parseQualifiedName } from "../lib/pg/ident.ts";
import { withPgpass } from "../lib/pg/pgpass.ts";
import { parseDbUrl, transactionPoolerHint } from "../lib/pg/url.ts";
import { runBackup } from "../lib/backup/execute.ts";
import { type BackupView, dirView, openBackup, previousBackup, storedAsOf } from "../lib/history/backups.ts";
import { looksLikeTime } from "../lib/store/asof.ts";
import { diffBackups, type RowContext, type Selection } from "../lib/history/compare.ts";
import type { RowChange } from "../lib/history/rows.ts";
import { diffJson, formatDiff, rowJson, rowSql } from "../lib/history/view.ts";

// Control characters end a SQL comment line early (psql takes \r as a line end): never in one.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/g;

/** The name that stands for the live database (`--db-url`) among FROM and TO. */
export const LIVE = "live";

/**
 * FROM and TO as given: none means the newest archive and latest; one means it and latest (or the
 * live database when `--db-url` is on the command line); `live` names the database. Pure. Throws a
 * usage error for a combination that does not work.
 */
export function chooseSides(positionals: string[], explicitDb: boolean): { from?: string; to: string } {
  const refs = [...positionals];
  if (explicitDb && !refs.includes(LIVE)) {
    if (refs.length === 2) {
      throw usageError(
        "--db-url compares one backup with the database, but two backups were named",
        "drop --db-url to compare the two backups, or name one backup (or write live where the database goes)",
      );
    }
    refs.push(LIVE);
    if (refs.length === 1) refs.unshift("latest");
  }
  if (refs.length === 2 && refs[0] === LIVE && refs[1] === LIVE) {
    throw usageError("FROM and TO are both the live database", "name a backup for one of them");
  }
  if (refs.length === 0) return { to: "latest" };
  if (refs.length === 1) return { from: refs[0], to: refs[0] === "latest" ? LIVE : "latest" };
  return { from: refs[0], to: refs[1] };
}

/** Reads the live database into `dir` with the backup engine (one snapshot), limited to `selection`. */
async function captureLive(args: ParsedArgs, selection: Selection, dir: string): Promise<BackupView> {
  const raw = optionalString(args, "db-url");
  const origin = args.origin["db-url"] ?? "--db-url";
  if (!raw) {
    throw usageError(
      "'live' needs --db-url (or $SUPABASE_DB_URL)",
      "set $SUPABASE_DB_URL (or pass --db-url) to the database to compare with, its password in ~/.pgpass",
    );
  }
  const env = Deno.env.toObject();
  const log = (l: string) => stderrLine(`live: ${l}`);
  const url = await withPgpass(warnIfOnCommandLine(parseDbUrl(raw, origin, env), origin), env, log);
  const pooler = transactionPoolerHint(url);
  if (pooler) throw usageError(`${origin} points at the transaction pooler (port 6543)`, pooler);
  const schemas = [...new Set([...selection.schemas, ...selection.tables.map((t) => t.schema)])];
  // Split as a backup splits (the flag table's default), so unchanged big tables keep their hashes.
  const maxFileSize = parseSize(flagDefault("max-file-size"), "--max-file-size");
  const run = await runBackup({
    scope: "full",
    schemas,
    excludeTables: [],
    url,
    ...connectionSettings(args),
    jobs: intValue(args, "jobs"),
    maxFileSize,
    pgBin: optionalString(args, "pg-bin"),
    source: { repo: LIVE, event: "diff", sha: "0000000" },
    stagingDir: dir,
    dryRun: false,
    log,
  });
  return dirView(dir, LIVE, run.manifest!, {});
}

/** Buffers lines into a private temporary file. */
class LineFile {
  private buf = "";
  private file?: Deno.FsFile;
  count = 0;
  constructor(readonly path: string) {}

  async add(line: string): Promise<void> {
    this.file ??= await Deno.open(this.path, { write: true, create: true, truncate: true, mode: 0o600 });
    this.buf += line + "\n";
    this.count++;
    if (this.buf.length >= 64 * 1024) await this.flush();
  }

  private async flush(): Promise<void> {
    const data = new TextEncoder().encode(this.buf);
    this.buf = "";
    for (let off = 0; off < data.length;) off += await this.file!.write(data.subarray(off));
  }

  async close(): Promise<void> {
    if (!this.file) return;
    await this.flush();
    this.file.close();
  }

  /** Copies the lines to stdout, `sep` between them. */
  async print(sep = ""): Promise<void> {
    if (this.count === 0) return;
    const enc = new TextEncoder();
    let first = true;
    const f = await Deno.open(this.path, { read: true });
    let rest = "";
    const dec = new TextDecoder();
    const write = async (s: string) => {
      const d = enc.encode(s);
      for (let off = 0; off < d.length;) off += await Deno.stdout.write(d.subarray(off));
    };
    for await (const chunk of f.readable) {
      const lines = (rest + dec.decode(chunk, { stream: true })).split("\n");
      rest = lines.pop()!;
      let out = "";
      for (const l of lines) {
        out += (first ? "" : sep) + l + (sep ? "" : "\n");
        first = false;
      }
      await write(out);
    }
  }
}

/**
 * A backup in the object store of `--store`, by name, `latest` or a time (the newest backup taken at
 * or before it), read from its blobs.
 */
async function storedView(
  store: ObjectStore,
  ref: string,
  decode: { identityFile?: string },
  opts: { now: Date; origin: string },
): Promise<BackupView> {
  if (looksLikeTime(ref)) {
    const { reader, label } = await storedAsOf(store, ref, opts.now, opts.origin);
    return dirView(reader, label, reader.manifest, decode);
  }
  const { reader, backup } = await openStoredBackup(store, ref);
  return dirView(reader, ref === "latest" ? "latest" : backup.name, reader.manifest, decode);
}

/** The backup before the latest in the store, for `diff --store` without FROM. */
async function previousStored(store: ObjectStore, decode: { identityFile?: string }): Promise<BackupView> {
  const all = await listBackups(store);
  if (all.length < 2) {
    throw usageError(
      `${store.display} holds ${all.length} backup(s): nothing to compare latest with`,
      "name two backups (diff FROM TO), or compare latest with the database (diff latest --db-url URL)",
    );
  }
  return await storedView(store, all[all.length - 2].name, decode, { now: new Date(), origin: "FROM" });
}

/** Runs `backup.ts diff`; returns 0 when the backups are equal, 1 when they differ. */
export async function run(args: ParsedArgs): Promise<number> {
  const json = boolValue(args, "json");
  const withRows = boolValue(args, "rows");
  const root = rootFromArgs(args);
  const decode = { identityFile: optionalString(args, "identity-file") };
  const selection: Selection = {
    schemas: listValue(args, "schema"),
    tables: listValue(args, "table").map((t) => parseQualifiedName(t, "--table")),
  };
  const sides = chooseSides(args.positionals ?? [], args.origin["db-url"] === "--db-url");
  const tmpDir = await Deno.makeTempDir({ prefix: "supabase-backup-diff-" });
  const dropTmp = onCleanup(() => Deno.removeSync(tmpDir, { recursive: true }));
  try {
    const now = new Date();
    const store = await storeFromArgs(args, Deno.env.toObject());
    const open = async (ref: string, origin: string) =>
      ref === LIVE
        ? await captureLive(args, selection, await Deno.makeTempDir({ dir: tmpDir, prefix: "live-" }))
        : store
        ? await storedView(store, ref, decode, { now, origin })
        : await openBackup(root, ref, { decode, now, origin });
    const to = sides.to === LIVE ? undefined : await open(sides.to, "TO");
    const from = sides.from === undefined
      ? store ? await previousStored(store, decode) : await previousBackup(root, decode)
      : await open(sides.from, "FROM");
    const toView = to ?? await open(LIVE, "TO");

    const rows = new LineFile(join(tmpDir, "rows.out"));
    let lastTable = "";
    const onRow = withRows
      ? async (ctx: RowContext, c: RowChange) => {
        if (json) return await rows.add(JSON.stringify(rowJson(ctx, c)));
        const name = `${ctx.schema}.${ctx.table}`;
        if (name !== lastTable) {
          await rows.add(`\n-- ${name.replace(CONTROL, "?")}`);
          lastTable = name;
        }
        await rows.add(rowSql(ctx, c));
      }
      : undefined;
    const d = await diffBackups(from, toView, { selection, tmpDir, onRow });
    await rows.close();
    if (json) {
      const head = JSON.stringify(diffJson(d), null, 2);
      if (!withRows) stdoutText(head);
      else {
        await Deno.stdout.write(
          new TextEncoder().encode(`${head.slice(0, head.lastIndexOf("}")).trimEnd()},\n  "rowChanges": [\n`),
        );
        await rows.print(",\n");
        await Deno.stdout.write(new TextEncoder().encode(`${rows.count ? "\n" : ""}  ]\n}\n`));
      }
    } else if (withRows) {
      // SQL on stdout, the report as comments: the output can be saved and run as it is.
      console.log(formatDiff(d).split("\n").map((l) => `-- ${l.replace(CONTROL, "?")}`).join("\n"));
      await rows.print();
    } else stdoutText(formatDiff(d));
    return d.equal ? ExitCode.ok : ExitCode.failed;
  } finally {
    dropTmp();
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  }
}
