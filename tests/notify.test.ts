/**
 * lib/report/notify.ts against a real local HTTP server (Deno.serve on 127.0.0.1, port 0).
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { describeWebhook, notifyWebhook } from "../lib/report/notify.ts";
import { clearSecrets, registerSecret } from "../lib/base/redact.ts";

interface Received {
  method: string;
  path: string;
  contentType: string | null;
  body: string;
}

/** Starts a server that records each request and answers with `status` after `delayMs`. */
function recorder(status = 204, delayMs = 0) {
  const received: Received[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received.push({
      method: req.method,
      path: new URL(req.url).pathname + new URL(req.url).search,
      contentType: req.headers.get("content-type"),
      body: await req.text(),
    });
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    return new Response(null, { status });
  });
  const port = (server.addr as Deno.NetAddr).port;
  return { received, server, base: `http://127.0.0.1:${port}` };
}

Deno.test("notifyWebhook POSTs the exact JSON summary with a JSON content type", async () => {
  const { received, server, base } = recorder(204);
  const warnings: string[] = [];
  try {
    const summary = {
      event: "backup-failed",
      repository: "acme/app",
      run: "https://github.com/acme/backups/actions/runs/42",
      environments: [{ environment: "prod", status: "failed", error: "connection refused" }],
    };
    const r = await notifyWebhook(`${base}/hooks/abc?token=t0k`, summary, { warn: (l) => warnings.push(l) });
    assertEquals(r, { ok: true, status: 204 });
    assertEquals(received.length, 1);
    assertEquals(received[0].method, "POST");
    assertEquals(received[0].path, "/hooks/abc?token=t0k");
    assertEquals(received[0].contentType, "application/json");
    assertEquals(JSON.parse(received[0].body), summary);
    assertEquals(warnings, []);
  } finally {
    await server.shutdown();
  }
});

Deno.test("notifyWebhook masks registered secrets in the body", async () => {
  const { received, server, base } = recorder(200);
  const password = "s3cr3t-p@ss/word";
  registerSecret(password);
  try {
    const r = await notifyWebhook(`${base}/`, {
      error: `could not connect to postgresql://postgres.ref:${encodeURIComponent(password)}@h:5432/db`,
      raw: password,
    }, { warn: () => {} });
    assertEquals(r.ok, true);
    const body = received[0].body;
    ok(!body.includes(password), body);
    ok(!body.includes(encodeURIComponent(password)), body);
    assertEquals(JSON.parse(body), {
      error: "could not connect to postgresql://postgres.ref:****@h:5432/db",
      raw: "****",
    });
  } finally {
    clearSecrets();
    await server.shutdown();
  }
});

Deno.test("a down server only warns, without the URL's token", async () => {
  // take a free port, then close it so nothing listens there
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const warnings: string[] = [];
  const url = `http://127.0.0.1:${port}/services/T000/B000/xoxb-secret-token`;
  const r = await notifyWebhook(url, { event: "backup-failed" }, { warn: (l) => warnings.push(l) });
  assertEquals(r.ok, false);
  assertEquals(warnings.length, 1);
  ok(
    warnings[0].startsWith(
      `warning: failure notification to http://127.0.0.1:${port}/services/… was not delivered`,
    ),
    warnings[0],
  );
  ok(!warnings[0].includes("xoxb-secret-token"), warnings[0]);
});

Deno.test("an HTTP error answer and a slow server only warn; the timeout is bounded", async () => {
  const bad = recorder(500);
  const slow = recorder(200, 1_500);
  const warnings: string[] = [];
  try {
    const r1 = await notifyWebhook(`${bad.base}/x`, { a: 1 }, { warn: (l) => warnings.push(l) });
    assertEquals(r1, { ok: false, reason: "the server answered HTTP 500" });
    const t0 = Date.now();
    const r2 = await notifyWebhook(`${slow.base}/x`, { a: 1 }, {
      timeoutMs: 300,
      warn: (l) => warnings.push(l),
    });
    const elapsed = Date.now() - t0;
    assertEquals(r2, { ok: false, reason: "no answer within 300 ms" });
    ok(elapsed < 2_000, `took ${elapsed} ms`);
    assertEquals(warnings.length, 2);
    ok(warnings.every((w) => w.startsWith("warning: ")));
    assertEquals(slow.received.length, 1);
  } finally {
    await bad.server.shutdown();
    await slow.server.shutdown();
  }
});

Deno.test("invalid or non-http URLs only warn", async () => {
  const warnings: string[] = [];
  assertEquals((await notifyWebhook("not a url", {}, { warn: (l) => warnings.push(l) })).ok, false);
  assertEquals((await notifyWebhook("file:///etc/passwd", {}, { warn: (l) => warnings.push(l) })).ok, false);
  assertEquals(warnings.length, 2);
  ok(warnings[1].includes("must be an http(s) URL"), warnings[1]);
  assertEquals(describeWebhook("https://user:pw@hooks.example/a/b?c=d"), "https://hooks.example/a/…");
});

Deno.test("the real CLI: a failed backup POSTs to --notify-webhook and keeps its own error", async () => {
  const { runCli } = await import("./support/cli.ts");
  const { received, server, base } = recorder(200);
  const out = await Deno.makeTempDir({ prefix: "notify-cli-" });
  try {
    // nothing listens on port 1: the connection fails fast
    const r = await runCli(
      [
        "backup",
        "--out",
        out,
        "--retries",
        "0",
        "--connect-timeout",
        "2",
        "--notify-webhook",
        `${base}/hook`,
      ],
      {
        SUPABASE_DB_URL: "postgresql://postgres:hunter2-pw@127.0.0.1:1/postgres",
        GITHUB_REPOSITORY: "acme/backups",
        GITHUB_SERVER_URL: "https://github.com",
        GITHUB_RUN_ID: "77",
      },
    );
    ok(r.code !== 0, `exit ${r.code}`);
    ok(r.stderr.includes("error: "), r.stderr);
    assertEquals(received.length, 1, r.stderr);
    const body = JSON.parse(received[0].body);
    assertEquals(body.event, "backup-failed");
    assertEquals(body.run, "https://github.com/acme/backups/actions/runs/77");
    assertEquals(body.environments[0].status, "failed");
    ok(!received[0].body.includes("hunter2-pw"), received[0].body);
  } finally {
    await server.shutdown();
    await Deno.remove(out, { recursive: true });
  }
});
