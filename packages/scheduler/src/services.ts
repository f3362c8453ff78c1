import { type Env, type Logger, type RedisTarget, resolveLocalRedis } from "@conveyor/core";
import { runMigrations } from "@conveyor/db";
import { startEmbeddedPostgres } from "@conveyor/db/embedded";
import { runningStack } from "./running-stack.ts";

/** Where PostgreSQL and Redis are, and how to stop whatever this process started for them. */
export interface Services {
  databaseUrl: string;
  redis: RedisTarget;
  /** True when this process started an embedded PostgreSQL or a redis-server. */
  startedLocal: boolean;
  stop(): Promise<void>;
}

/**
 * Finds PostgreSQL and Redis: the URLs in the environment, else the embedded defaults
 * (embedded PostgreSQL; Redis on 6379 or a spawned `redis-server`). Then applies
 * migrations when `MIGRATE_ON_START` (under an advisory lock, so many processes may).
 */
export async function resolveServices(env: Env, log: Logger, dataRoot: string): Promise<Services> {
  const stops: (() => Promise<void>)[] = [];
  // Beside a running `bun run dev`/`start` (a worker or `start:workers` started by hand), use its
  // embedded PostgreSQL and local Redis: an embedded PostgreSQL started on the same folder would
  // stop the one it runs on.
  const beside = env.DATABASE_URL ? null : runningStack(dataRoot);
  if (beside) log.info({ pid: beside.pid }, "using the PostgreSQL and Redis of the running `bun run dev`/`start`");
  let databaseUrl = env.DATABASE_URL ?? beside?.databaseUrl;
  if (!databaseUrl) {
    const pg = await startEmbeddedPostgres({ dataRoot, log });
    stops.push(pg.stop);
    databaseUrl = pg.url;
    log.info({ port: pg.port, dataDir: pg.dataDir }, "embedded PostgreSQL started");
  }
  let redisUrl = env.REDIS_URL ?? beside?.redisUrl;
  if (!redisUrl && env.REDIS_CLUSTER_NODES.length === 0) {
    const redis = await resolveLocalRedis({ dataRoot, log });
    if (redis.spawned) {
      stops.push(redis.stop);
      log.info({ dataDir: `${dataRoot}/redis` }, "redis-server started");
    }
    redisUrl = redis.url;
  }
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    if (env.MIGRATE_ON_START) await runMigrations(env.MIGRATION_DATABASE_URL ?? databaseUrl);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    databaseUrl,
    redis: { url: redisUrl ?? "redis://127.0.0.1:6379", clusterNodes: env.REDIS_CLUSTER_NODES },
    startedLocal: stops.length > 0,
    stop,
  };
}
