/**
 * Checks made inside the restore's session before its first write: the roles the backup's
 * policies are granted to must exist in the target, or be created by the restore's roles step
 * (issue 16, item 15). Without it, a restore into plain PostgreSQL that lacks Supabase's roles ran
 * every definition and loaded every row before failing on `role "authenticated" does not exist`.
 * @module
 */
import { lexScript } from "../pg/lexer.ts";
import { runPool } from "../base/pool.ts";
import type { Ctx } from "./context.ts";
import { postDataHasPolicies, postDataTexts, readText } from "./files.ts";
import {
  missingPolicyRoles,
  missingRolesError,
  type PolicyRoles,
  policyRoles,
  roleStatement,
} from "./roles.ts";
import { isExcludedBlock, noteExcluded } from "./schemas.ts";
import { parseScript } from "./script.ts";

/** What the check needs of a restore's state: no session (a dry run runs it too). */
export type PolicyCtx = Pick<
  Ctx,
  "opts" | "manifest" | "dumps" | "postData" | "tmp" | "plan" | "state" | "tools" | "excluded"
>;

/** The policies a script's statements create, as the lexer cuts them. */
function policiesIn(text: string): PolicyRoles[] {
  const out: PolicyRoles[] = [];
  for (const p of lexScript(text)) {
    const r = p.kind === "statement" ? policyRoles(p.text) : undefined;
    if (r) out.push(r);
  }
  return out;
}

/** The roles the restore's roles step creates from roles.sql (none without `--roles`). */
async function createdRoles(ctx: PolicyCtx): Promise<Set<string>> {
  const out = new Set<string>();
  if (!ctx.plan.roles || !ctx.manifest.roles) return out;
  for (const p of lexScript(await readText(ctx, ctx.manifest.roles))) {
    const r = p.kind === "statement" ? roleStatement(p.text) : undefined;
    if (r?.verb === "CREATE") out.add(r.role);
  }
  return out;
}

/**
 * Throws an exit-2 error naming the roles the backup's policies need and the target will lack:
 * the policies of the restored schemas' dumps (their POLICY entries only) and of the tables whose
 * schema.sql the restore runs. Nothing is written before it.
 */
export async function checkPolicyRoles(ctx: PolicyCtx): Promise<void> {
  const { plan } = ctx;
  if (plan.dataOnly) return;
  const policies: PolicyRoles[] = [];
  if (plan.kind === "schemas") await noteExcluded(ctx);
  // The POLICY entries of each dump's post-data, read as the restore reads it (postData in
  // schemas.ts), --jobs dumps at a time; a dump whose table of contents lists none is not waited for.
  const texts = await runPool(
    plan.schemas.map((s) => async () =>
      await postDataHasPolicies(ctx, s.manifest) ? await postDataTexts(ctx, s.manifest) : undefined
    ),
    Math.max(1, ctx.opts.jobs),
  );
  for (const { early } of texts.filter((t) => t !== undefined)) {
    for (const b of parseScript(early).blocks) {
      if (b.type === "POLICY" && !isExcludedBlock(ctx, b)) policies.push(...policiesIn(b.text));
    }
  }
  for (const t of plan.tables) {
    if (t.action === "create" || t.action === "recreate") {
      policies.push(...policiesIn(await readText(ctx, t.table.schemaFile)));
    }
  }
  if (policies.length === 0) return;
  const created = await createdRoles(ctx);
  const missing = missingPolicyRoles(policies, (r) => ctx.state.roles.has(r) || created.has(r));
  const err = missingRolesError(missing, { rolesFlag: plan.roles, backupHasRoles: !!ctx.manifest.roles });
  if (err) throw err;
}
