/**
 * A backup root inside a fresh git repository, and backups committed into it with the real CLI.
 * @module
 */
import { ok } from "node:assert/strict";
import $ from "dax";
import { runCli } from "./cli.ts";

/** git without the host's configuration. */
export const GIT_ENV = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };

/**
 * Creates a git repository `<tmp>/repo` with the backup root `<repo>/backups`; `backup()` backs up
 * `url` into it with `--commit` (exit 0, or 3 for a partial backup).
 */
export async function gitRoot(
  tmp: string,
  url: string,
): Promise<{ repo: string; out: string; backup: () => Promise<void> }> {
  const repo = `${tmp}/repo`;
  await $`git -c init.defaultBranch=main init --quiet ${repo}`;
  const out = `${repo}/backups`;
  const backup = async () => {
    const r = await runCli(["backup", "--db-url", url, "--out", out, "--commit", "--yes"], GIT_ENV);
    ok(r.code === 0 || r.code === 3, `backup exit ${r.code}: ${r.stderr}`);
  };
  return { repo, out, backup };
}
