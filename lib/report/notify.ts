/**
 * Failure notification: POST a JSON summary to a webhook (`--notify-webhook`, `$BACKUP_WEBHOOK_URL`).
 *
 * A notification is best effort. It is sent after the backup has already failed, so it never throws:
 * any problem (bad URL, refused connection, timeout, non-2xx answer) becomes one warning on stderr,
 * and the backup's own error stays the one the user sees.
 * @module
 */
import { redact } from "../base/redact.ts";
import { stderrLine } from "../base/output.ts";

/** Options of {@link notifyWebhook}. */
export interface NotifyOptions {
  /** Aborts the request (e.g. the tool's interrupt signal). */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds; default 10 000. */
  timeoutMs?: number;
  /** Where warnings go; default {@link stderrLine}. */
  warn?: (line: string) => void;
}

/** What {@link notifyWebhook} did: `sent` with the HTTP status, or `failed` with the reason. */
export type NotifyResult = { ok: true; status: number } | { ok: false; reason: string };

/** Default timeout of one notification, in milliseconds. */
export const NOTIFY_TIMEOUT_MS = 10_000;

/**
 * The URL with its user info and query string hidden, for warnings: a webhook URL often carries a
 * token in its path or query (Slack, Teams), so only scheme, host and the first path segment show.
 */
export function describeWebhook(url: string): string {
  try {
    const u = new URL(url);
    const first = u.pathname.split("/").filter(Boolean)[0];
    return `${u.protocol}//${u.host}${first ? `/${first}/…` : "/"}`;
  } catch {
    return "(invalid URL)";
  }
}

/**
 * The request body: `summary` as JSON, passed through {@link redact} so that no registered secret
 * (a database password) can leave the machine.
 */
export function webhookBody(summary: object): string {
  return redact(JSON.stringify(summary));
}

/**
 * POSTs `summary` as JSON (`content-type: application/json`) to `url`, within `timeoutMs`.
 * Never throws; a failure is printed as `warning: …` on stderr and returned as `{ ok: false }`.
 */
export async function notifyWebhook(
  url: string,
  summary: object,
  opts: NotifyOptions = {},
): Promise<NotifyResult> {
  const warn = opts.warn ?? stderrLine;
  const where = describeWebhook(url);
  const fail = (reason: string): NotifyResult => {
    warn(redact(`warning: failure notification to ${where} was not delivered: ${reason}`));
    return { ok: false, reason };
  };
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return fail("--notify-webhook is not a valid URL");
  }
  if (target.protocol !== "https:" && target.protocol !== "http:") {
    return fail(`--notify-webhook must be an http(s) URL, got '${target.protocol}'`);
  }
  const timeoutMs = opts.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    const res = await fetch(target, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "supabase-backup" },
      body: webhookBody(summary),
      signal,
    });
    await res.body?.cancel();
    if (!res.ok) return fail(`the server answered HTTP ${res.status}`);
    return { ok: true, status: res.status };
  } catch (e) {
    if (timeout.aborted) return fail(`no answer within ${timeoutMs} ms`);
    if (opts.signal?.aborted) return fail("interrupted");
    // fetch's message names the full URL, which may hold a token: show only its safe part
    const message = ((e as Error)?.message ?? String(e)).split("\n")[0];
    return fail(message.split(target.href).join(where).split(url).join(where));
  }
}
