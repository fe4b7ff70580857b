/**
 * The `history` command: the backups in which one table changed (`--table SCHEMA.TABLE`), with its
 * row count and size, from the manifests of latest/, archive/ and the git history of the root, or
 * of every backup in the object store of `--store`.
 * @module
 */
import { boolValue, listValue, type ParsedArgs } from "../lib/cli/flags.ts";
import { rootFromArgs, storeFromArgs } from "../lib/cli/args.ts";
import { ExitCode, usageError } from "../lib/base/errors.ts";
import { stdoutText } from "../lib/base/output.ts";
import { parseQualifiedName } from "../lib/pg/ident.ts";
import { knownBackups, storedBackups, tableTimeline } from "../lib/history/timeline.ts";
import { formatTimeline, qualifiedName, timelineJson } from "../lib/history/view.ts";

/** Runs `backup.ts history`; returns the exit code. */
export async function run(args: ParsedArgs): Promise<number> {
  const tables = listValue(args, "table");
  if (tables.length !== 1) {
    throw usageError(
      "history needs exactly one --table SCHEMA.TABLE",
      "for example: backup.ts history --table public.orders",
    );
  }
  const q = parseQualifiedName(tables[0], "--table");
  const store = await storeFromArgs(args, Deno.env.toObject());
  const root = store ? store.display : rootFromArgs(args);
  const backups = store ? await storedBackups(store) : await knownBackups(root);
  if (backups.length === 0) {
    throw usageError(
      `no backups in ${root}`,
      store
        ? "run 'backup.ts backup --store …' first, or check --store and --env"
        : "run 'backup.ts backup' first, or point --out at the backup root",
    );
  }
  const t = tableTimeline(backups, q.schema, q.table, root);
  if (boolValue(args, "json")) {
    stdoutText(JSON.stringify(timelineJson(q, root, t), null, 2));
  } else {
    stdoutText(formatTimeline(qualifiedName(q.schema, q.table), t));
  }
  return ExitCode.ok;
}
