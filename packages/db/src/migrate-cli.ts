import { createLogger, parseEnv } from "@conveyor/core";
import { runMigrations } from "./migrate.ts";

// `bun run migrate`: the one place that applies migrations by hand.
const env = parseEnv();
const log = createLogger("migrate", env.LOG_LEVEL);
const url = env.MIGRATION_DATABASE_URL ?? env.DATABASE_URL;
if (!url) {
  log.error("set DATABASE_URL (or MIGRATION_DATABASE_URL) to the database to migrate");
  process.exit(2);
}
await runMigrations(url);
log.info("migrations applied");
