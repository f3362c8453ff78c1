import { sql } from "drizzle-orm";
import { bigint, boolean, check, index, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** The task a schedule submits on every run (CONTRACT.md, "Schedule"). */
export interface ScheduleTaskTemplate {
  type: string;
  payload: unknown;
  priority?: string;
  timeoutMs?: number;
  maxAttempts?: number;
}

/**
 * One row per recurring schedule: the record. Redis holds a BullMQ job scheduler per active
 * schedule, which the reconciler re-creates from here when Redis forgets it.
 */
export const schedules = pgTable(
  "schedules",
  {
    id: uuid().primaryKey(),
    tenant: text().notNull(),
    name: text().notNull(),
    /** A cron expression (5 fields, or 6 with seconds first); null when `everyMs` is set. */
    cron: text(),
    everyMs: bigint({ mode: "number" }),
    timezone: text().notNull().default("UTC"),
    task: jsonb().$type<ScheduleTaskTemplate>().notNull(),
    paused: boolean().notNull().default(false),
    /** `everyMs` ticks fall on `anchorAt + k * everyMs` (k >= 1): set at creation and when the interval changes. */
    anchorAt: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
    lastRunAt: timestamp({ withTimezone: true, mode: "date" }),
    lastTaskId: uuid(),
    createdAt: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    index("schedules_tenant_id").on(t.tenant, t.id),
    check("schedules_cron_xor_every", sql`(${t.cron} is null) <> (${t.everyMs} is null)`),
    check("schedules_every_min", sql`${t.everyMs} is null or ${t.everyMs} >= 1000`),
  ],
);

export type ScheduleRow = typeof schedules.$inferSelect;
export type NewScheduleRow = typeof schedules.$inferInsert;
