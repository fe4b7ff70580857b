/**
 * What one restore carries between its steps: the options it was given ({@link RestoreOptions})
 * and its running state ({@link Ctx}: plan, target state, tools, filters, warnings).
 * @module
 */
import type { DecodeOptions } from "../store/decode.ts";
import type { Sql } from "../pg/connect.ts";
import type { Session } from "./session.ts";
import type { DbUrl } from "../pg/url.ts";
import type { Manifest } from "../store/manifest.ts";
import type { BackupSource } from "../store/reader.ts";
import type { PgTools } from "../pg/tools.ts";
import type { FilterContext, FilterCounts } from "./filter.ts";
import type { RestorePlan, RestoreRequest, TargetState } from "./plan.ts";
import type { Script } from "./script.ts";
import type { IntoNames } from "./into.ts";
import type { PostDataRead } from "./files.ts";

/** Everything one restore needs. */
export interface RestoreOptions {
  /** The backup directory (holds manifest.json), or a reader of a backup in an object store. */
  backupDir: BackupSource;
  /** For messages: `latest`, `archive/<name>` or a path. */
  label?: string;
  target: DbUrl;
  request: RestoreRequest;
  jobs: number;
  ipv4: boolean;
  /** Seconds per connection attempt (--connect-timeout). */
  connectTimeout: number;
  /** Connection attempts after the first on a transient fault (--retries). */
  retries: number;
  pgBin?: string;
  decode?: DecodeOptions;
  dryRun?: boolean;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /**
   * Told when the restore's one transaction is being committed (`COMMIT` sent: from then on a signal
   * may come after the server committed) and when it is committed, so that what an interruption
   * says about the target stays true (lib/base/interrupt.ts setInterruptNote).
   */
  onCommit?: (phase: "committing" | "committed") => void;
}

/** One restore's running state, shared by its steps. */
export interface Ctx {
  opts: RestoreOptions;
  manifest: Manifest;
  plan: RestorePlan;
  state: TargetState;
  tools: PgTools;
  env: Record<string, string>;
  filter: FilterContext;
  counts: FilterCounts;
  tmp: string;
  warnings: string[];
  /** Plaintext paths of schema dumps, by schema name (reassembled when split). */
  dumps: Map<string, Promise<string>>;
  /** Pre-data scripts of schema dumps (as pg_restore writes them), by schema name. */
  preDataText: Map<string, Promise<string>>;
  /** Post-data scripts of schema dumps (files.ts, postDataTexts), by schema name. */
  postData: Map<string, PostDataRead>;
  sql: Sql;
  /** Entry blocks (`type\0schema\0name`) and data entries (`schema table owner`) of excluded tables. */
  excluded?: { blocks: Set<string>; data: Set<string> };
  /** The one psql session (and transaction) every step writes into. */
  session: Session;
  /** catalog.sql, cut into entry blocks, when the plan uses it (lib/restore/catalog.ts). */
  catalog?: Script;
  /** `--into`: the new name, and the names the target already uses in its schema (into.ts). */
  into?: IntoNames & { taken: ReadonlySet<string>; data?: (statement: string) => string };
  /**
   * Backup files checked against the manifest (a reader need not check them again), once `checking`
   * resolved (it rejects with the check's error) when there is one.
   */
  checked?: ReadonlySet<string>;
  checking?: Promise<void>;
  /**
   * Backup files checked while the restore runs (restorer.ts), from `start()` on (once the
   * definitions are sent: the check would compete with them for this thread): a reader of one of
   * them starts it and waits for `done`, which rejects with the check's error.
   */
  later?: { files: ReadonlySet<string>; start: () => void; done: Promise<void> };
  /** SQL that suspends, and restores, the connected user's default privileges (target.ts). */
  defaults?: { suspend: string; resume: string };
}

/** Keeps `message` for the result's warnings and logs it. */
export function warn(ctx: Ctx, message: string): void {
  ctx.warnings.push(message);
  ctx.opts.log(`warning: ${message}`);
}

/** `s` as UTF-8 bytes (psql input). */
export const enc = (s: string) => new TextEncoder().encode(s);
