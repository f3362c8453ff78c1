import { and, desc, gte, sql } from "drizzle-orm";
import type { DbHandle } from "./client.ts";
import { type AuditRow, auditLog } from "./schema/index.ts";

/** One change worth answering for: who (key, tenant), what (action), on what (target). */
export interface AuditEntry {
  /** Null for the bootstrap admin key, which has no row. */
  keyId: string | null;
  tenant: string;
  action: string;
  target: string | null;
}

/** Filters of `GET /v1/audit`. */
export interface AuditQuery {
  since?: Date;
  /** The id of the last entry of the previous page. */
  cursor?: number;
  limit: number;
}

/** The audit trail in PostgreSQL: every mutation except task submission. */
export class AuditLog {
  constructor(private readonly pg: DbHandle) {}

  /** Appends one entry. Mutations are rare next to submissions, so a plain insert each is cheap enough. */
  async record(entry: AuditEntry): Promise<void> {
    await this.pg.db.insert(auditLog).values(entry);
  }

  /** One page, newest first; `nextCursor` is null on the last page. */
  async list(q: AuditQuery): Promise<{ rows: AuditRow[]; nextCursor: string | null }> {
    // Ordered by (at, id) so `audit_log_at` serves both `since` and the order; the cursor names
    // an id and its `at` is looked up, so a page resumes exactly after the entry it ended on.
    const after = q.cursor
      ? sql`(${auditLog.at}, ${auditLog.id}) < (select a.at, a.id from audit_log a where a.id = ${q.cursor})`
      : undefined;
    const rows = await this.pg.db
      .select()
      .from(auditLog)
      .where(and(q.since ? gte(auditLog.at, q.since) : undefined, after))
      .orderBy(desc(auditLog.at), desc(auditLog.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return { rows: page, nextCursor: rows.length > q.limit && last ? String(last.id) : null };
  }
}
