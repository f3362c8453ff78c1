import { integer, jsonb, pgTable, real, text, timestamp } from "drizzle-orm/pg-core";

/** Worker nodes. `lastSeenAt` is the truth about liveness: Redis heartbeat keys can vanish with Redis. */
export const nodes = pgTable("nodes", {
  id: text().primaryKey(),
  host: text().notNull(),
  pid: integer().notNull(),
  version: text().notNull(),
  types: text().array().notNull(),
  concurrency: jsonb().$type<Record<string, number>>().notNull(),
  active: integer().notNull().default(0),
  rssBytes: real().notNull().default(0),
  eventLoopLagMs: real().notNull().default(0),
  startedAt: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
  lastSeenAt: timestamp({ withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

export type NodeRow = typeof nodes.$inferSelect;
