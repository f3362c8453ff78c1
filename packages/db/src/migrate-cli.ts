import { createLogger, dataDir, parseEnv, projectRoot } from "@conveyor/core";
import { startEmbeddedPostgres } from "./embedded.ts";
import { runMigrations } from "./migrate.ts";

// `bun run migrate`: applies migrations to MIGRATION_DATABASE_URL, else DATABASE_URL, else the
// embedded PostgreSQL that `bun run dev` uses.
const env = parseEnv();
const log = createLogger("migrate", env.LOG_LEVEL);
const given = env.MIGRATION_DATABASE_URL ?? env.DATABASE_URL;
const embedded = given ? undefined : await startEmbeddedPostgres({ dataRoot: dataDir(env, projectRoot()), log });
try {
  await runMigrations(given ?? (embedded?.url as string));
  log.info({ embedded: embedded !== undefined }, "migrations applied");
} finally {
  await embedded?.stop();
}
