/**
 * The interactive flow: the real CLI in a pseudo-terminal (util-linux `script`), answering dax's
 * prompts with keystrokes, against the stand-in `az`. Without a terminal nothing is asked.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { sharedCluster } from "./support/cluster.ts";
import { PLAIN_PATH, runCli } from "./support/cli.ts";
import { installFakeAz } from "./support/fake_az.ts";
import { loadFixture } from "./support/fixture.ts";
import { REPO } from "./support/paths.ts";

const DOWN = "\x1b[B";
const ENTER = "\r";

const show = (
  vault: string,
  secret: string,
) => ["keyvault", "secret", "show", "--vault-name", vault, "--name", secret, "--query", "value", "-o", "tsv"];

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Text without ANSI escape sequences and carriage returns. */
function plain(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
}

/** A CLI run inside a pseudo-terminal. */
interface PtyRun {
  /** Waits until the terminal output (escapes removed) matches `re`; fails after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** Types `keys` into the terminal. */
  send(keys: string): Promise<void>;
  /** Waits for the CLI to exit; returns its code and everything it printed. */
  done(): Promise<{ code: number; output: string }>;
}

/** Starts `backup.ts args` in a pseudo-terminal with a minimal environment plus `env`. */
async function startInPty(args: string[], env: Record<string, string>): Promise<PtyRun> {
  const script = "/usr/bin/script";
  try {
    await Deno.stat(script);
  } catch {
    throw new Error("util-linux 'script' is missing: apt-get install bsdutils (it provides /usr/bin/script)");
  }
  const cmd = [Deno.execPath(), "run", "--allow-all", "--quiet", `${REPO}/backup.ts`, ...args].map(shQuote)
    .join(" ");
  const child = new Deno.Command(script, {
    args: ["-qefc", `stty cols 120 rows 40; exec ${cmd}`, "/dev/null"],
    cwd: REPO,
    clearEnv: true,
    env: {
      PATH: PLAIN_PATH,
      HOME: Deno.env.get("HOME") ?? "/root",
      TMPDIR: Deno.env.get("TMPDIR") ?? "/tmp",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`,
      TERM: "xterm",
      NO_COLOR: "1",
      ...env,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  let output = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stdout) output += dec.decode(chunk, { stream: true });
  })();
  const errText = new Response(child.stderr).text();
  return {
    async waitFor(re, ms = 30_000) {
      const end = Date.now() + ms;
      while (!re.test(plain(output))) {
        if (Date.now() > end) {
          throw new Error(`timed out waiting for ${re}; the terminal shows:\n${plain(output)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async send(keys) {
      await new Promise((r) => setTimeout(r, 150)); // let the prompt switch the terminal to raw mode
      await writer.write(new TextEncoder().encode(keys));
    },
    async done() {
      const status = await child.status;
      await reading;
      await writer.close().catch(() => {});
      return { code: status.code, output: plain(output) + (await errText) };
    },
  };
}

Deno.test("on a terminal, --vault without --env asks for the environment; choosing dev reads the dev secret", async () => {
  const cluster = await sharedCluster(17);
  const dev = await loadFixture(cluster, await cluster.createDatabase(), { app: false });
  const az = await installFakeAz({
    vaults: {
      "acme-kv": {
        secrets: {
          "supabase-db-url-prod": "postgresql://nobody@127.0.0.1:1/x",
          "supabase-db-url-dev": dev.url,
        },
      },
    },
  });
  const out = await Deno.makeTempDir({ prefix: "prompt-" });
  try {
    const run = await startInPty(["backup", "--vault", "acme-kv", "--dry-run", "--out", out], {
      PATH: `${az.dir}:${PLAIN_PATH}`,
    });
    await run.waitFor(/Which environment do you want to back up\?/);
    await run.waitFor(/both/);
    await run.send(DOWN);
    await run.send(ENTER);
    const r = await run.done();
    assertEquals(await az.calls(), [show("acme-kv", "supabase-db-url-dev")], r.output);
    assertEquals(r.code, 0, r.output);
    ok(r.output.includes(dev.db), `the dry run plans the dev database:\n${r.output}`);
    ok(!r.output.includes(dev.url), "the secret value is not shown");
  } finally {
    await az.cleanup();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("on a terminal with no URL at all, the vault is asked for, then the environment", async () => {
  const az = await installFakeAz({ vaults: { "typed-kv": { secrets: {} } } });
  try {
    const run = await startInPty(["backup", "--dry-run"], { PATH: `${az.dir}:${PLAIN_PATH}` });
    await run.waitFor(/Azure Key Vault that holds it/);
    await run.send("typed-kv");
    await run.send(ENTER);
    await run.waitFor(/Which environment do you want to back up\?/);
    await run.send(DOWN + DOWN);
    await run.send(ENTER);
    const r = await run.done();
    // the stand-in vault has no secrets: the first read fails and names the secret
    assertEquals(await az.calls(), [show("typed-kv", "supabase-db-url-prod")], r.output);
    assertEquals(r.code, 1, r.output);
    ok(
      r.output.includes("Key Vault secret 'supabase-db-url-prod' was not found in vault 'typed-kv'"),
      r.output,
    );
  } finally {
    await az.cleanup();
  }
});

Deno.test("without a terminal, or with --yes, nothing is asked", async () => {
  const az = await installFakeAz({ vaults: { "acme-kv": { secrets: {} } } });
  try {
    const env = { PATH: `${az.dir}:${PLAIN_PATH}` };
    // no terminal: --vault defaults to prod
    const r = await runCli(["backup", "--vault", "acme-kv", "--dry-run"], env);
    assertEquals(r.code, 1, r.stderr);
    ok(!/Which environment/.test(r.stderr + r.stdout), r.stderr);
    assertEquals(await az.calls(), [show("acme-kv", "supabase-db-url-prod")]);
    // a terminal with --yes: the missing URL is an error naming the flag
    const run = await startInPty(["backup", "--yes", "--dry-run"], env);
    const y = await run.done();
    assertEquals(y.code, 2, y.output);
    ok(y.output.includes("error: no database URL"), y.output);
    ok(y.output.includes("hint: pass --db-url or set $SUPABASE_DB_URL"), y.output);
  } finally {
    await az.cleanup();
  }
});
