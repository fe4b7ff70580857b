/** Path helpers for tests (node:path plus file URLs). @module */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

export { dirname };

/** A file: URL as a path. */
export function fromFileUrl(url: string): string {
  return fileURLToPath(url);
}

/** The repository root. */
export const REPO = dirname(dirname(dirname(fromFileUrl(import.meta.url))));
