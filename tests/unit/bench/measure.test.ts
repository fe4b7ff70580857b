/** Reading /proc texts for the benchmark's measurements (bench/measure.ts). */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { parseStatCpuMs, parseStatPpid, parseStatus } from "../../../bench/measure.ts";

// A /proc/<pid>/stat line whose command name holds a space and a parenthesis.
const STAT = "4242 (pg (x) y) S 4200 4242 4242 0 -1 4194560 1000 0 0 0 250 50 30 20 20 0 1 0 12345 1000 100";

Deno.test("parseStatPpid and parseStatCpuMs read past a command name with spaces and parens", () => {
  assertEquals(parseStatPpid(STAT), 4200);
  assertEquals(parseStatCpuMs(STAT), 3000); // (250 + 50) ticks of 10 ms
  assertEquals(parseStatCpuMs(STAT, true), 3500); // + the children waited for (30 + 20)
  assertEquals(parseStatCpuMs("garbage"), undefined);
});

Deno.test("parseStatus reads VmHWM and VmRSS", () => {
  assertEquals(parseStatus("Name:\tdeno\nVmHWM:\t  81200 kB\nVmRSS:\t  60000 kB\n"), {
    hwm: 81200,
    rss: 60000,
  });
  assertEquals(parseStatus("Name:\tzombie\n"), undefined);
});
