import { boolean, integer, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** Per task type queue settings kept in PostgreSQL, re-applied to Redis at start and by the reconciler. */
export const queueSettings = pgTable("queue_settings", {
  type: text().primaryKey(),
  paused: boolean().notNull().default(false),
  /** Cluster-wide rate limit: at most `max` starts per `durationMs`. */
  rateLimit: jsonb().$type<{ max: number; durationMs: number }>(),
  /** Cluster-wide concurrency limit, or null for none. */
  concurrency: integer(),
  updatedAt: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

export type QueueSettingsRow = typeof queueSettings.$inferSelect;
