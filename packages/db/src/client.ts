import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres, { type Sql } from "postgres";
import * as schema from "./schema/index.ts";

export type Schema = typeof schema;
export type Database = PostgresJsDatabase<Schema> & { $client: Sql };

export interface DbHandle {
  db: Database;
  sql: Sql;
  close(): Promise<void>;
}

/** Seconds before the pool's next connect after `retries` failed ones: 10 ms doubling, jittered, at most 1 s. */
function reconnectDelaySeconds(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(2 ** retries / 100, 1);
}

/** Opens a pool to PostgreSQL; snake_case columns at run time as at generation. */
export function createDb(url: string, opts: { max?: number; appName?: string } = {}): DbHandle {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    // A dead database must not hang a request: connect fails fast, the API answers 503.
    connect_timeout: 5,
    idle_timeout: 30,
    // postgres.js counts failed connects for the whole pool and waits up to 20 s before the next
    // one: after a 5 s outage queries hung ~15 s after the server was back (tests/faults/under-load).
    // Capped at a second, the pool is back within a second of the server.
    backoff: reconnectDelaySeconds,
    onnotice: () => {},
    connection: { application_name: opts.appName ?? "conveyor" },
  });
  const db = drizzle({ client: sql, schema, casing: "snake_case" }) as Database;
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}
