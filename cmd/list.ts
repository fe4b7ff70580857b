/**
 * The `list` command: latest and the archives of a backup root, with time, source, size, status
 * and table count, as a table or `--json`.
 * @module
 */
import { backupRoot } from "../lib/store/rotation.ts";
import { boolValue, type ParsedArgs } from "../lib/cli/flags.ts";
import { rootsFromArgs, storeFromArgs } from "../lib/cli/args.ts";
import { storeListing } from "../lib/store/remoteread.ts";
import { ExitCode } from "../lib/base/errors.ts";
import { stdoutText } from "../lib/base/output.ts";
import {
  findEnvironments,
  formatListing,
  listingJson,
  readGrowth,
  readListing,
} from "../lib/store/listing.ts";

/** Runs `backup.ts list`; returns the exit code (0, also for an empty or missing root). */
export async function run(args: ParsedArgs): Promise<number> {
  const json = boolValue(args, "json");
  const store = await storeFromArgs(args, Deno.env.toObject());
  if (store) {
    const entries = await storeListing(store);
    stdoutText(
      json
        ? JSON.stringify({ roots: [listingJson(store.display, entries)] }, null, 2)
        : entries.length === 0
        ? `no backups in ${store.display} yet; run 'backup.ts backup --store ${store.display}' to make one`
        : formatListing(store.display, entries),
    );
    return ExitCode.ok;
  }
  const { out, roots } = rootsFromArgs(args);
  const listings: { root: string; env?: string; entries: Awaited<ReturnType<typeof readListing>> }[] = [];
  for (const r of roots) listings.push({ ...r, entries: await readListing(r.root, r.env) });
  // Without --env, a root that only holds environment folders lists each of them.
  if (roots.length === 1 && !roots[0].env && listings[0].entries.length === 0) {
    const envs = await findEnvironments(out);
    if (envs.length > 0) {
      listings.length = 0;
      for (const e of envs) {
        const root = backupRoot(out, e);
        listings.push({ root, env: e, entries: await readListing(root, e) });
      }
    }
  }
  const growth = await Promise.all(listings.map((l) => readGrowth(l.root)));
  if (json) {
    stdoutText(
      JSON.stringify(
        { roots: listings.map((l, i) => listingJson(l.root, l.entries, l.env, growth[i])) },
        null,
        2,
      ),
    );
  } else {
    stdoutText(listings.map((l, i) => formatListing(l.root, l.entries, out, growth[i])).join("\n\n"));
  }
  return ExitCode.ok;
}
