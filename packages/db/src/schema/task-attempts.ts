import type { AttemptOutcome, TaskError } from "@conveyor/core";
import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { tasks } from "./tasks.ts";

/** One row per attempt at running a task: where it ran, how long, how it ended. */
export const taskAttempts = pgTable(
  "task_attempts",
  {
    taskId: uuid()
      .notNull()
      .references(() => tasks.id, { onDelete: "cascade" }),
    n: integer().notNull(),
    tenant: text().notNull(),
    type: text().notNull(),
    node: text().notNull(),
    outcome: text().$type<AttemptOutcome>().notNull(),
    error: jsonb().$type<TaskError>(),
    /** How long the task waited from being due to this attempt's start. */
    waitMs: integer(),
    durationMs: integer(),
    startedAt: timestamp({ withTimezone: true, mode: "date" }).notNull(),
    finishedAt: timestamp({ withTimezone: true, mode: "date" }),
  },
  (t) => [
    primaryKey({ columns: [t.taskId, t.n] }),
    index("task_attempts_running_node").on(t.node).where(sql`${t.outcome} = 'running'`),
    index("task_attempts_finished_at").on(t.finishedAt),
    check(
      "task_attempts_outcome_check",
      sql`${t.outcome} in ('running','completed','failed','timed_out','cancelled','stalled','interrupted')`,
    ),
  ],
);

export type AttemptRow = typeof taskAttempts.$inferSelect;
