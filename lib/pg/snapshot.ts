/**
 * The backup's one snapshot: a repeatable-read, read-only transaction on a reserved connection
 * whose exported snapshot every pg_dump of the run joins (`--snapshot`), so that all files agree.
 * Where the server refuses to export one, the transaction still serves detection and each schema
 * is dumped in its own snapshot; the manifest says so.
 * @module
 */
import type { Sql } from "./connect.ts";

/** An open snapshot transaction. */
export interface Snapshot {
  /** The reserved connection inside the transaction (for detection). */
  conn: Sql;
  /** The exported snapshot id; absent when the server refused to export one. */
  id?: string;
  /** Why there is no exported snapshot. */
  note?: string;
  /** Ends the transaction (errors ignored) and gives the connection back to the pool. */
  end(how: "commit" | "rollback"): Promise<void>;
}

/** Opens the snapshot transaction on a connection reserved from `sql`; warns through `log` without one. */
export async function openSnapshot(sql: Sql, log: (l: string) => void): Promise<Snapshot> {
  const conn = await sql.reserve() as unknown as Sql & { release(): void };
  const end = async (how: "commit" | "rollback") => {
    await (how === "commit" ? conn`commit` : conn`rollback`).catch(() => {});
    conn.release();
  };
  const begin = () => conn`begin isolation level repeatable read read only`;
  await begin();
  try {
    // Not inside a savepoint: PostgreSQL refuses to export a snapshot from a subtransaction.
    const [{ id }] = await conn<{ id: string }[]>`select pg_export_snapshot() as id`;
    return { conn, id, end };
  } catch (e) {
    await conn`rollback`.catch(() => {});
    await begin();
    const note = `no exported snapshot (${
      (e as Error).message.split("\n")[0]
    }); each schema is dumped in its own snapshot`;
    log(`warning: ${note}`);
    return { conn, note, end };
  }
}
