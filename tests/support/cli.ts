/**
 * Running the real CLI (`deno run -A backup.ts …`) as a process in tests.
 * @module
 */
import { REPO } from "./paths.ts";
import { outputFed } from "./feed.ts";

/** The result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A PATH with no PostgreSQL 17 tools on it (Debian's pg_dump 15 may be there). */
export const PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin";

/** The CLI's environment in tests: PATH, HOME, TMPDIR, DENO_DIR and NO_COLOR, plus `env`. */
export function cliEnv(env: Record<string, string>): Record<string, string> {
  return {
    PATH: PLAIN_PATH,
    HOME: Deno.env.get("HOME") ?? "/root",
    TMPDIR: Deno.env.get("TMPDIR") ?? "/tmp",
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`,
    NO_COLOR: "1",
    ...env,
  };
}

/**
 * Starts `backup.ts` with `args` as {@link runCli} runs it, returning the process (to stop and
 * continue it, or to signal it) and its result.
 */
export function spawnCli(
  args: string[],
  env: Record<string, string> = {},
): { child: Deno.ChildProcess; result: Promise<CliResult> } {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", `${REPO}/backup.ts`, ...args],
    cwd: REPO,
    clearEnv: true,
    env: cliEnv(env),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dec = new TextDecoder();
  const result = child.output().then((o) => ({
    code: o.code,
    stdout: dec.decode(o.stdout),
    stderr: dec.decode(o.stderr),
  }));
  return { child, result };
}

/**
 * Runs `backup.ts` with `args`. The environment is minimal (PATH, HOME, TMPDIR) plus `env`, so the
 * host's variables cannot leak in; the working directory is the repository (for the tool cache).
 */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  opts: { cwd?: string; stdin?: string } = {},
): Promise<CliResult> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", `${REPO}/backup.ts`, ...args],
    cwd: opts.cwd ?? REPO,
    clearEnv: true,
    env: cliEnv(env),
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  const out = await outputFed(child, opts.stdin);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Every file under `dir` (relative paths, sorted). */
export async function listFiles(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await listFiles(dir, p));
    else out.push(p);
  }
  return out.sort();
}
