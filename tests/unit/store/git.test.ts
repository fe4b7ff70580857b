/** The environment git children get: what git needs, nothing of the tool's secrets. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { gitEnv, quoteAlternate } from "../../../lib/store/git.ts";

Deno.test("gitEnv keeps what git, ssh and proxies need and drops the tool's secrets (item 5)", () => {
  const env = gitEnv({
    PATH: "/usr/bin",
    HOME: "/home/me",
    SSH_AUTH_SOCK: "/tmp/agent",
    https_proxy: "http://proxy:3128",
    GIT_SSH_COMMAND: "ssh -i key",
    GIT_AUTHOR_NAME: "me",
    SystemRoot: "C:\\Windows",
    SUPABASE_DB_URL: "postgresql://u:pw@h/db",
    SUPABASE_DB_URL_DEV: "postgresql://u:pw@h/dev",
    RESTORE_DB_URL: "postgresql://u:pw@h/r",
    PGPASSWORD: "pw",
    BACKUP_WEBHOOK_URL: "https://hooks.example/secret",
    AZURE_CLIENT_SECRET: "s",
    GITHUB_TOKEN: "ghs_x",
    LC_ALL: "de_DE.UTF-8",
    GIT_TERMINAL_PROMPT: "1",
  });
  assertEquals(env, {
    PATH: "/usr/bin",
    HOME: "/home/me",
    SSH_AUTH_SOCK: "/tmp/agent",
    https_proxy: "http://proxy:3128",
    GIT_SSH_COMMAND: "ssh -i key",
    GIT_AUTHOR_NAME: "me",
    SystemRoot: "C:\\Windows",
    GIT_TERMINAL_PROMPT: "0",
    LC_ALL: "C",
  });
});

Deno.test("quoteAlternate: a path is one quoted entry of GIT_ALTERNATE_OBJECT_DIRECTORIES", () => {
  assertEquals(quoteAlternate("/srv/backups/.git/objects"), '"/srv/backups/.git/objects"');
  // the list is split at ':' (';' on Windows); quotes, backslashes and newlines are escaped C-style
  assertEquals(quoteAlternate('/tmp/a:b"c/.git/objects'), '"/tmp/a:b\\"c/.git/objects"');
  assertEquals(quoteAlternate("C:\\repo;x\\.git\\objects"), '"C:\\\\repo;x\\\\.git\\\\objects"');
  assertEquals(quoteAlternate("/a\nb"), '"/a\\nb"');
});
