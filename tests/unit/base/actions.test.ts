import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  addMask,
  appendStepSummary,
  backupEnabled,
  inActions,
  maskCommands,
} from "../../../lib/base/actions.ts";

Deno.test("inActions only for GITHUB_ACTIONS=true", () => {
  assertEquals(inActions({ GITHUB_ACTIONS: "true" }), true);
  assertEquals(inActions({ GITHUB_ACTIONS: "false" }), false);
  assertEquals(inActions({}), false);
});

Deno.test("backupEnabled is false only when BACKUP_ENABLED is set and not true", () => {
  for (const v of [undefined, "", "  ", "true", "TRUE", "True", " true "]) {
    assertEquals(backupEnabled({ BACKUP_ENABLED: v }), true, `BACKUP_ENABLED=${JSON.stringify(v)}`);
  }
  for (const v of ["false", "FALSE", "0", "no", "off", "yes", "1", "truee"]) {
    assertEquals(backupEnabled({ BACKUP_ENABLED: v }), false, `BACKUP_ENABLED=${JSON.stringify(v)}`);
  }
});

Deno.test("maskCommands masks every non-empty line", () => {
  assertEquals(maskCommands("abc"), ["::add-mask::abc"]);
  assertEquals(maskCommands("a\nb\r\n\nc"), ["::add-mask::a", "::add-mask::b", "::add-mask::c"]);
  assertEquals(maskCommands(""), []);
});

Deno.test("addMask prints only inside Actions", () => {
  const printed: unknown[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => printed.push(a.join(" "));
  try {
    addMask("pw1", {});
    addMask("", { GITHUB_ACTIONS: "true" });
    addMask("pw2", { GITHUB_ACTIONS: "true" });
  } finally {
    console.log = log;
  }
  assertEquals(printed, ["::add-mask::pw2"]);
});

Deno.test("appendStepSummary appends markdown blocks; no variable means no file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/summary.md`;
    await appendStepSummary("## one", {});
    await appendStepSummary("## one", { GITHUB_STEP_SUMMARY: path });
    await appendStepSummary("| a |\n", { GITHUB_STEP_SUMMARY: path });
    assertEquals(await Deno.readTextFile(path), "## one\n\n| a |\n\n");
    // an unwritable path warns instead of throwing
    const errors: string[] = [];
    const err = console.error;
    console.error = (l: string) => errors.push(l);
    try {
      await appendStepSummary("x", { GITHUB_STEP_SUMMARY: `${dir}/missing/dir/summary.md` });
    } finally {
      console.error = err;
    }
    assertEquals(errors.length, 1);
    assertEquals(errors[0].startsWith("warning: cannot write the job summary"), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
