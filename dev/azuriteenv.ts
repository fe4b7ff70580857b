/**
 * Provisioning of Azurite, Microsoft's emulator of Azure Blob Storage, which the `azblob://` store
 * tests run against: the npm package {@link AZURITE_PACKAGE} installed under
 * `<repo>/.cache/azurite/` (`npm install --omit=dev --ignore-scripts`, from the npm registry only)
 * and run with the machine's Node.js ({@link AZURITE_MIN_NODE} or newer).
 *
 * The install runs in a temporary directory and is renamed into place with a `.provisioned` marker;
 * a second run with a matching marker does nothing. Runs alone with `deno run -A dev/azuriteenv.ts`,
 * and as a step of `deno task setup`.
 * @module
 */
import { join } from "node:path";
import { REPO_ROOT } from "./pgenv.ts";
import { exists, readText, run, say } from "./storageenv.ts";

/** The pinned Azurite release (verified with Node 20 on Debian 12). */
export const AZURITE_PACKAGE = "azurite@3.35.0";

/** The oldest Node.js major version that runs it. */
export const AZURITE_MIN_NODE = 18;

/** Bumped when the recipe changes, so old installs are replaced. */
const RECIPE = 1;

/** The cache directory of the install. */
export const AZURITE_CACHE: string = join(REPO_ROOT, ".cache", "azurite");

/** The Blob service's entry point, run with `node` (what the `azurite-blob` command runs). */
export function azuriteBlobEntry(): string {
  return join(AZURITE_CACHE, "node_modules", "azurite", "dist", "src", "blob", "main.js");
}

/** What the `.provisioned` marker records. */
export interface AzuriteMarker {
  recipe: number;
  package: string;
}

/** The marker a finished install has. Pure. */
export function expectedAzuriteMarker(): AzuriteMarker {
  return { recipe: RECIPE, package: AZURITE_PACKAGE };
}

/** Whether a marker file's text is the expected marker. Pure; bad JSON does not match. */
export function azuriteMarkerMatches(text: string | undefined): boolean {
  if (text === undefined) return false;
  try {
    const m = JSON.parse(text) as Partial<AzuriteMarker>;
    const want = expectedAzuriteMarker();
    return m.recipe === want.recipe && m.package === want.package;
  } catch {
    return false;
  }
}

/** The major version in `node --version` output (`v20.20.2` → 20), or undefined. Pure. */
export function nodeMajor(versionText: string): number | undefined {
  const m = /^v(\d+)\./.exec(versionText.trim());
  return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------

/** Checks that `node` is on PATH and new enough; throws naming what to install otherwise. */
export async function checkNode(): Promise<void> {
  const version = await run("node", ["--version"]).catch(() => "");
  const major = nodeMajor(version);
  if (major === undefined || major < AZURITE_MIN_NODE) {
    throw new Error(
      `Azurite needs Node.js ${AZURITE_MIN_NODE} or newer on PATH (found ${version.trim() || "none"})`,
    );
  }
}

/** Whether the cached install is complete (marker and entry point present). */
export async function azuriteProvisioned(): Promise<boolean> {
  return azuriteMarkerMatches(await readText(join(AZURITE_CACHE, ".provisioned"))) &&
    await exists(azuriteBlobEntry());
}

/**
 * Installs Azurite into {@link AZURITE_CACHE} unless it is already there (see the module doc).
 * Throws an Error naming the step that failed (node, npm).
 */
export async function ensureAzurite(opts: { quiet?: boolean } = {}): Promise<void> {
  if (await azuriteProvisioned()) return;
  await checkNode();
  const started = Date.now();
  const parent = join(AZURITE_CACHE, "..");
  await Deno.mkdir(parent, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: parent, prefix: ".build-azurite-" });
  try {
    await Deno.writeTextFile(
      join(tmp, "package.json"),
      JSON.stringify({ name: "azurite-cache", private: true }, null, 2) + "\n",
    );
    say(opts.quiet, `azurite: npm install ${AZURITE_PACKAGE} (about half a minute)`);
    await run(
      "npm",
      [
        "install",
        "--omit=dev",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--save-exact",
        AZURITE_PACKAGE,
      ],
      { cwd: tmp, env: { npm_config_update_notifier: "false" } },
    );
    await Deno.writeTextFile(join(tmp, ".provisioned"), JSON.stringify(expectedAzuriteMarker()) + "\n");
    await Deno.chmod(tmp, 0o755); // a temp dir is 0700; other users may run the tests
    if (await exists(AZURITE_CACHE)) await Deno.remove(AZURITE_CACHE, { recursive: true });
    try {
      await Deno.rename(tmp, AZURITE_CACHE);
    } catch (e) {
      // another setup finished first
      if (!azuriteMarkerMatches(await readText(join(AZURITE_CACHE, ".provisioned")))) throw e;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  say(opts.quiet, `azurite: ${AZURITE_PACKAGE} installed in ${Math.round((Date.now() - started) / 1000)} s`);
}

if (import.meta.main) {
  try {
    await ensureAzurite({ quiet: Deno.args.includes("--quiet") || Deno.args.includes("-q") });
  } catch (e) {
    console.error(`setup: error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
