import { bigserial, index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { tasks } from "./tasks.ts";

/** Lines a handler logged through its context, bounded per attempt by the worker. */
export const taskLogs = pgTable(
  "task_logs",
  {
    id: bigserial({ mode: "number" }).primaryKey(),
    taskId: uuid()
      .notNull()
      .references(() => tasks.id, { onDelete: "cascade" }),
    attempt: integer().notNull(),
    level: text().notNull(),
    message: text().notNull(),
    at: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("task_logs_task").on(t.taskId, t.id)],
);

export type TaskLogRow = typeof taskLogs.$inferSelect;
