/**
 * PostgreSQL client tool discovery: finds pg_dump, pg_dumpall, pg_restore and psql of a wanted
 * major version or newer. The choice is pure ({@link candidateDirs}, {@link chooseTools}); only
 * {@link findPgTools} touches the disk and runs `--version`.
 * @module
 */
import { BackupError } from "../base/errors.ts";
import { runProgram } from "../base/proc.ts";
import { abortSignal } from "../base/interrupt.ts";

/** The client programs the tool runs. */
export const PG_TOOL_NAMES = ["pg_dump", "pg_dumpall", "pg_restore", "psql"] as const;
/** One of {@link PG_TOOL_NAMES}. */
export type PgToolName = (typeof PG_TOOL_NAMES)[number];

/** A parsed `--version` line. */
export interface PgVersion {
  major: number;
  minor: number;
  text: string;
}

/** A directory holding all four tools of one version. */
export interface PgTools {
  dir: string;
  version: PgVersion;
  /** Where the directory was found: "PG_BIN", "PATH", "debian", "homebrew" or "cache". */
  origin: string;
  path(tool: PgToolName): string;
}

/** One place to look, in search order. */
export interface Candidate {
  dir: string;
  origin: string;
}

/** Parses `pg_dump (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)` or `psql (PostgreSQL) 15.18`. */
export function parsePgVersion(text: string): PgVersion | undefined {
  const m = text.match(/\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2] ?? 0), text: text.trim() };
}

/**
 * The version number in a `--version` line: `pg_dump (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)`
 * gives `17.12`. Returns the text unchanged when it holds no number. Pure.
 */
export function versionNumber(text: string): string {
  return text.match(/\b\d+(?:\.\d+)*(?:(?:alpha|beta|rc)\d+|devel)?/)?.[0] ?? text;
}

/** Parses a server version (`server_version_num`, e.g. 170004 or 150012). */
export function parseServerVersionNum(num: number): { major: number; minor: number } {
  return { major: Math.floor(num / 10000), minor: num % 10000 };
}

/**
 * The directories to search, in order: `PG_BIN` (or `--pg-bin`), each PATH entry,
 * `/usr/lib/postgresql/<N>/bin` (newest first), Homebrew's `postgresql@<N>`, and the provisioned
 * caches (`$SUPABASE_BACKUP_CACHE/pg`, `<cwd>/.cache/pg`, `~/.cache/supabase-backup/pg`).
 */
export function candidateDirs(opts: {
  minMajor: number;
  pgBin?: string;
  env: Record<string, string | undefined>;
  cwd: string;
  maxMajor?: number;
}): Candidate[] {
  const { env } = opts;
  const out: Candidate[] = [];
  const pgBin = opts.pgBin ?? env.PG_BIN;
  if (pgBin) out.push({ dir: pgBin, origin: "PG_BIN" });
  for (const d of (env.PATH ?? "").split(":").filter(Boolean)) out.push({ dir: d, origin: "PATH" });
  const majors: number[] = [];
  for (let n = opts.maxMajor ?? 25; n >= opts.minMajor; n--) majors.push(n);
  for (const n of majors) out.push({ dir: `/usr/lib/postgresql/${n}/bin`, origin: "debian" });
  for (const n of majors) {
    for (const prefix of ["/opt/homebrew", "/usr/local", "/home/linuxbrew/.linuxbrew"]) {
      out.push({ dir: `${prefix}/opt/postgresql@${n}/bin`, origin: "homebrew" });
    }
  }
  const caches = [
    env.SUPABASE_BACKUP_CACHE ? `${env.SUPABASE_BACKUP_CACHE}/pg` : undefined,
    `${opts.cwd}/.cache/pg`,
    env.HOME ? `${env.HOME}/.cache/supabase-backup/pg` : undefined,
  ].filter((c): c is string => !!c);
  for (const c of caches) for (const n of majors) out.push({ dir: `${c}/client-${n}/bin`, origin: "cache" });
  const seen = new Set<string>();
  return out.filter((c) => (seen.has(c.dir) ? false : (seen.add(c.dir), true)));
}

/**
 * Picks the first candidate, in search order, whose tools are all present and whose pg_dump major
 * is at least `minMajor`. `found` holds the probed version of each directory (undefined when the
 * tools are missing there).
 */
export function chooseTools(
  candidates: Candidate[],
  found: Map<string, PgVersion | undefined>,
  minMajor: number,
): Candidate & { version: PgVersion } | undefined {
  for (const c of candidates) {
    const v = found.get(c.dir);
    if (v && v.major >= minMajor) return { ...c, version: v };
  }
  return undefined;
}

/** Versions of pg_dump that write `\restrict` lines and accept `--restrict-key`. */
export function supportsRestrictKey(v: Pick<PgVersion, "major" | "minor">): boolean {
  const firstFixed: Record<number, number> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };
  if (v.major >= 18) return true;
  const min = firstFixed[v.major];
  return min !== undefined && v.minor >= min;
}

/**
 * Whether `dir` holds all four tools as files. Synchronous: most candidates do not exist, and one
 * stat each on this thread (about 1 ms for all) costs less than going through the thread pool.
 */
function hasTools(dir: string): boolean {
  return PG_TOOL_NAMES.every((t) => {
    try {
      return Deno.statSync(`${dir}/${t}`).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * The version of `dir`'s pg_dump, or undefined when it does not run, does not say, or was stopped
 * (`signal`).
 */
async function probe(dir: string, signal: AbortSignal): Promise<PgVersion | undefined> {
  try {
    const r = await runProgram({
      path: `${dir}/pg_dump`,
      args: ["--version"],
      what: "pg_dump --version",
      hint: () => "",
      signal,
    });
    return r.code === 0 ? parsePgVersion(r.stdout) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Finds client tools of `minMajor` or newer. Throws a {@link BackupError} (exit 1) with an install
 * hint when none are found, naming the versions that were seen and were too old.
 */
export async function findPgTools(opts: {
  minMajor: number;
  pgBin?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
}): Promise<PgTools> {
  const env = opts.env ?? Deno.env.toObject();
  const cands = candidateDirs({
    minMajor: opts.minMajor,
    pgBin: opts.pgBin,
    env,
    cwd: opts.cwd ?? Deno.cwd(),
  });
  const present = cands.map((c) => hasTools(c.dir));
  const found = new Map<string, PgVersion | undefined>();
  // The first directory that has the tools is asked alone: it is nearly always the choice, and the
  // runs of the others would take the CPU it needs (Debian's /usr/bin/pg_dump is a Perl wrapper that
  // takes 30 ms of CPU to say its version; --pg-bin's own 4 ms).
  const first = present.indexOf(true);
  if (first >= 0) found.set(cands[first].dir, await probe(cands[first].dir, abortSignal));
  let chosen = chooseTools(cands.slice(0, first + 1), found, opts.minMajor);
  if (!chosen && first >= 0) {
    // The rest are looked at together, not one after another (a machine with an older pg_dump first
    // on PATH would wait for two more runs in a row). The choice is still the first suitable one in
    // search order, taken as soon as it and those before it are known: the runs of later
    // directories are stopped, not waited for.
    const later = new AbortController();
    const signal = AbortSignal.any([abortSignal, later.signal]);
    const looked = cands.map((c, i) =>
      i > first && present[i] ? probe(c.dir, signal) : Promise.resolve(null)
    );
    for (let i = first + 1; i < cands.length && !chosen; i++) {
      const v = await looked[i];
      if (v !== null) found.set(cands[i].dir, v);
      chosen = chooseTools(cands.slice(0, i + 1), found, opts.minMajor);
    }
    later.abort();
    await Promise.all(looked);
  }
  if (!chosen) {
    const seen = [...found.entries()].filter(([, v]) => v).map(([d, v]) => `${v!.major}.${v!.minor} in ${d}`);
    throw new BackupError(
      `no pg_dump ${opts.minMajor} or newer found${seen.length ? ` (too old: ${seen.join(", ")})` : ""}`,
      {
        hint:
          `install postgresql-client-${opts.minMajor} (apt.postgresql.org; brew install postgresql@${opts.minMajor})` +
          ` or point --pg-bin/$PG_BIN at its bin directory`,
      },
    );
  }
  const dir = chosen.dir;
  return { dir, version: chosen.version, origin: chosen.origin, path: (tool) => `${dir}/${tool}` };
}
