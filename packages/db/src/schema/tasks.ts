import type { TaskError } from "@conveyor/core";
import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, real, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/** Retry spacing as the contract defines it. */
export interface Backoff {
  strategy: "exponential" | "fixed";
  delayMs: number;
  jitter?: number;
}

/** One row per task: the system of record. Redis only carries what is waiting to run. */
export const tasks = pgTable(
  "tasks",
  {
    id: uuid().primaryKey(),
    tenant: text().notNull(),
    type: text().notNull(),
    status: text().notNull(),
    priority: text().notNull().default("normal"),
    payload: jsonb().notNull(),
    result: jsonb(),
    error: jsonb().$type<TaskError>(),
    progress: real(),
    attempts: integer().notNull().default(0),
    maxAttempts: integer().notNull(),
    timeoutMs: integer().notNull(),
    backoff: jsonb().$type<Backoff>().notNull(),
    /** Attempts that ended `stalled`; three fail the task. */
    stalls: integer().notNull().default(0),
    idempotencyKey: text(),
    /** Hash of the normalised request, to tell a replay from a different body under one key. */
    requestHash: text(),
    scheduleId: uuid(),
    /** The tick of `scheduleId` this task is the run of (null for a triggered run): one task per tick. */
    scheduledFor: timestamp({ withTimezone: true, mode: "date" }),
    runAt: timestamp({ withTimezone: true, mode: "date" }),
    /** When the task is next due to start: creation, `runAt`, or the end of a retry backoff. */
    dueAt: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
    /** The BullMQ job id that currently carries this task (`<id>`, then `<id>-r<n>` after a manual retry). */
    jobId: text().notNull(),
    node: text(),
    createdAt: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
    startedAt: timestamp({ withTimezone: true, mode: "date" }),
    finishedAt: timestamp({ withTimezone: true, mode: "date" }),
  },
  (t) => [
    // Partial: most tasks carry no key, and an index entry per keyless row would cost every insert.
    uniqueIndex("tasks_tenant_idempotency_key")
      .on(t.tenant, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    index("tasks_tenant_created").on(t.tenant, t.id.desc()),
    // The reconciler's scan of what should be waiting in Redis.
    index("tasks_pending_due").on(t.dueAt).where(sql`${t.status} in ('queued', 'delayed')`),
    index("tasks_tenant_status").on(t.tenant, t.status, t.id.desc()),
    // Partial, so unscheduled tasks pay nothing: a repeated tick inserts nothing, and a
    // schedule's runs are listed (`GET /v1/tasks?scheduleId=`) without scanning the tenant.
    uniqueIndex("tasks_schedule_tick")
      .on(t.scheduleId, t.scheduledFor)
      .where(sql`${t.scheduleId} is not null and ${t.scheduledFor} is not null`),
    index("tasks_schedule_created").on(t.scheduleId, t.id.desc()).where(sql`${t.scheduleId} is not null`),
    check("tasks_status_check", sql`${t.status} in ('queued','delayed','running','completed','failed','cancelled')`),
    check("tasks_priority_check", sql`${t.priority} in ('critical','high','normal','low')`),
  ],
);

export type TaskRow = typeof tasks.$inferSelect;
export type NewTaskRow = typeof tasks.$inferInsert;
