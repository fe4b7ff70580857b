/**
 * A per-category tally of checks for the reliability suites: each check is recorded as passed or
 * failed, and one line per category (`bad inputs 27/27`) is printed when the test module unloads.
 * @module
 */

const counts = new Map<string, { passed: number; total: number }>();
let printing = false;

function entry(category: string) {
  let c = counts.get(category);
  if (!c) {
    c = { passed: 0, total: 0 };
    counts.set(category, c);
  }
  if (!printing) {
    printing = true;
    globalThis.addEventListener("unload", () => {
      for (const [name, n] of counts) console.log(`${name} ${n.passed}/${n.total}`);
    });
  }
  return c;
}

/**
 * Runs one check of `category`: counts it, and counts it as passed when `fn` resolves. Rethrows
 * the check's error, so the enclosing test fails too.
 */
export async function tallied<T>(category: string, fn: () => Promise<T> | T): Promise<T> {
  const c = entry(category);
  c.total++;
  const r = await fn();
  c.passed++;
  return r;
}

/** The current counts of `category` (for asserting that every check ran). */
export function tallyOf(category: string): { passed: number; total: number } {
  return { ...entry(category) };
}
