/** Parsing and formatting of sizes (pure). */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import { formatBytes, parseSize } from "../../../lib/base/size.ts";

Deno.test("parseSize: decimal and binary units, case-insensitive", () => {
  assertEquals(parseSize("95MB"), 95_000_000);
  assertEquals(parseSize("50mb"), 50_000_000);
  assertEquals(parseSize("50M"), 50_000_000);
  assertEquals(parseSize("1GiB"), 1024 ** 3);
  assertEquals(parseSize("1gib"), 1024 ** 3);
  assertEquals(parseSize("1.5GB"), 1_500_000_000);
  assertEquals(parseSize("123"), 123);
  assertEquals(parseSize("123B"), 123);
  assertEquals(parseSize(" 10 MiB "), 10 * 1024 ** 2);
  assertEquals(parseSize("2kb"), 2000);
  assertEquals(parseSize("2KiB"), 2048);
  assertEquals(parseSize("1.5"), 1);
});

function usageMessage(text: string, origin?: string): string {
  try {
    parseSize(text, origin);
  } catch (e) {
    assert(e instanceof BackupError, "a BackupError");
    assertEquals(e.exitCode, 2);
    assert(e.hint && e.hint.includes("95MB"));
    return e.message;
  }
  throw new Error(`parseSize('${text}') did not throw`);
}

Deno.test("parseSize: junk, zero and negative sizes are usage errors naming the flag", () => {
  assertEquals(usageMessage("lots"), "--max-file-size 'lots' is not a size");
  assertEquals(usageMessage("95 XB"), "--max-file-size '95 XB' is not a size");
  assertEquals(usageMessage(""), "--max-file-size '' is not a size");
  assertEquals(usageMessage("0"), "--max-file-size must be greater than zero, got '0'");
  assertEquals(usageMessage("0MB"), "--max-file-size must be greater than zero, got '0MB'");
  assertEquals(usageMessage("-5MB"), "--max-file-size must be greater than zero, got '-5MB'");
  assertEquals(usageMessage("0.1"), "--max-file-size must be greater than zero, got '0.1'");
  assertEquals(
    usageMessage("1e3", "$BACKUP_MAX_FILE_SIZE"),
    "$BACKUP_MAX_FILE_SIZE '1e3' is not a size",
  );
  assert(usageMessage("99999999TB").includes("too large"));
});

Deno.test("formatBytes: decimal units with one decimal", () => {
  assertEquals(formatBytes(0), "0 B");
  assertEquals(formatBytes(-3), "0 B");
  assertEquals(formatBytes(NaN), "0 B");
  assertEquals(formatBytes(512), "512 B");
  assertEquals(formatBytes(999), "999 B");
  assertEquals(formatBytes(1000), "1.0 kB");
  assertEquals(formatBytes(1_234_567), "1.2 MB");
  assertEquals(formatBytes(95_000_000), "95.0 MB");
  assertEquals(formatBytes(999_950), "1.0 MB");
  assertEquals(formatBytes(3.4e9), "3.4 GB");
  assertEquals(formatBytes(2e15), "2.0 PB");
  assertEquals(formatBytes(5e18), "5000.0 PB");
});
