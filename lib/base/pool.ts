/**
 * A bounded pool for parallel work that stops starting new tasks after the first failure.
 * @module
 */

/**
 * Runs `tasks` with at most `limit` at a time. After the first failure no new task starts, the
 * running ones are awaited (`onFail` lets the caller abort them), and the first error is thrown.
 */
export async function runPool<T>(
  tasks: (() => Promise<T>)[],
  limit: number,
  onFail?: (e: unknown) => void,
): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < tasks.length) {
      const i = next++;
      try {
        results[i] = await tasks[i]();
      } catch (e) {
        if (!failed) {
          failed = { error: e };
          onFail?.(e);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, worker));
  if (failed) throw failed.error;
  return results;
}
