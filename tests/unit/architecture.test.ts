/**
 * The architecture as a test: each lib/ folder imports only the folders its mod.ts allows ("May import:"),
 * commands in cmd/ do not import each other, and lib/ never imports cmd/.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { listFiles } from "../support/cli.ts";
import { REPO } from "../support/paths.ts";

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^"']*?from\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** The relative imports of one file, as repository paths. */
async function importsOf(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(REPO, file));
  return [...text.matchAll(IMPORT)].map((m) => normalize(join(dirname(file), m[1] ?? m[2])));
}

/** Each folder's allowed folders, read from the "May import:" line of its mod.ts. */
async function allowed(folders: string[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const f of folders) {
    const text = await Deno.readTextFile(join(REPO, "lib", f, "mod.ts"));
    const line = /May import: ([^\n]*)/.exec(text)?.[1] ?? "";
    const list = /^every other folder/.test(line)
      ? folders.filter((g) => g !== f)
      : folders.filter((g) =>
        new RegExp(`\\b${g}\\b`).test(line.replace(/nothing of lib\/ outside base/, ""))
      );
    out.set(f, new Set([f, ...list]));
  }
  return out;
}

Deno.test("lib/ folders import only the folders their mod.ts allows; cmd/ files do not import each other", async () => {
  const libFiles = (await listFiles(join(REPO, "lib"))).filter((f) => f.endsWith(".ts"));
  const folders = [...new Set(libFiles.map((f) => f.split("/")[0]))].sort();
  assertEquals(libFiles.filter((f) => !f.includes("/")), [], "every lib/ file lives in a folder");
  const rules = await allowed(folders);
  const bad: string[] = [];
  for (const f of libFiles) {
    const folder = f.split("/")[0];
    for (const dep of await importsOf(`lib/${f}`)) {
      const rel = relative("lib", dep);
      if (rel.startsWith("..")) bad.push(`lib/${f} imports ${dep} (outside lib/)`);
      else if (!rules.get(folder)!.has(rel.split("/")[0])) bad.push(`lib/${f} imports ${dep}`);
    }
  }
  for (const f of (await listFiles(join(REPO, "cmd"))).filter((f) => f.endsWith(".ts"))) {
    for (const dep of await importsOf(`cmd/${f}`)) {
      if (dep.startsWith("cmd/")) bad.push(`cmd/${f} imports ${dep}`);
    }
  }
  assertEquals(bad, []);
});

Deno.test("every lib/ folder has a mod.ts saying what it owns and what it may import", async () => {
  const folders = [...new Set((await listFiles(join(REPO, "lib"))).map((f) => f.split("/")[0]))];
  for (const f of folders) {
    const text = await Deno.readTextFile(join(REPO, "lib", f, "mod.ts"));
    assertEquals(/May import: /.test(text), true, `lib/${f}/mod.ts has no "May import:" line`);
    assertEquals(
      text.startsWith(`/**\n * ${f}: `),
      true,
      `lib/${f}/mod.ts does not start by naming its folder`,
    );
  }
});
