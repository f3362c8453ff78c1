import { customType, doublePrecision, index, integer, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/** A serialized DDSketch (protobuf). Drizzle 0.45 has no built-in bytea column. */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "bytea" });

/**
 * Per tenant, task type, minute and worker node: how the attempts that ended (and started) in
 * that minute went. Each node writes only its own rows, so concurrent writers never read, merge
 * and write back each other's numbers; readers merge the rows (and their sketches) of a window.
 */
export const metricRollups = pgTable(
  "metric_rollups",
  {
    minute: timestamp({ withTimezone: true, mode: "date" }).notNull(),
    tenant: text().notNull(),
    type: text().notNull(),
    node: text().notNull(),
    /** Attempts that ended, whatever their outcome. */
    ended: integer().notNull().default(0),
    /** Tasks that reached `completed` / `failed` through an attempt ending in this minute. */
    completed: integer().notNull().default(0),
    failed: integer().notNull().default(0),
    /** Attempts that ended `timed_out` (whether or not their task will run again). */
    timedOut: integer().notNull().default(0),
    runSum: doublePrecision().notNull().default(0),
    runMin: doublePrecision(),
    runMax: doublePrecision(),
    runSketch: bytea(),
    /** Attempts that started. */
    started: integer().notNull().default(0),
    waitSum: doublePrecision().notNull().default(0),
    waitMin: doublePrecision(),
    waitMax: doublePrecision(),
    waitSketch: bytea(),
  },
  (t) => [
    primaryKey({ columns: [t.minute, t.tenant, t.type, t.node] }),
    index("metric_rollups_tenant_minute").on(t.tenant, t.minute),
  ],
);

export type MetricRollupRow = typeof metricRollups.$inferSelect;
