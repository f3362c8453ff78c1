import { bigserial, index, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** Every mutation but task submission: who (key, tenant), what (action), on what (target). */
export const auditLog = pgTable(
  "audit_log",
  {
    id: bigserial({ mode: "number" }).primaryKey(),
    at: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
    /** Null for the bootstrap admin key. */
    keyId: uuid(),
    tenant: text().notNull(),
    action: text().notNull(),
    target: text(),
  },
  (t) => [index("audit_log_at").on(t.at.desc(), t.id.desc())],
);

export type AuditRow = typeof auditLog.$inferSelect;
