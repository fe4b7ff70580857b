/**
 * Golden files: `assertGolden("name.txt", actual)` compares with tests/golden/name.txt, or rewrites
 * it when UPDATE_GOLDEN=1 (`deno task test:update`).
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { dirname, fromFileUrl } from "./paths.ts";

const GOLDEN_DIR = `${dirname(dirname(fromFileUrl(import.meta.url)))}/golden`;

/** Compares `actual` with the golden file `name` (a path under tests/golden). */
export async function assertGolden(name: string, actual: string): Promise<void> {
  const path = `${GOLDEN_DIR}/${name}`;
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, actual);
    return;
  }
  let expected: string;
  try {
    expected = await Deno.readTextFile(path);
  } catch {
    throw new Error(`golden file ${path} is missing; run 'deno task test:update' to create it`);
  }
  assertEquals(
    actual,
    expected,
    `output differs from ${path}; run 'deno task test:update' if the change is intended`,
  );
}
