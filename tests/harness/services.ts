import { createLogger, projectRoot, resolveLocalRedis } from "@conveyor/core";
import { startEmbeddedPostgres } from "@conveyor/db/embedded";

/** The servers every suite in this process shares (each suite still gets its own database and prefix). */
export interface TestServices {
  /** A URL to a database where this process may create and drop databases. */
  adminUrl: string;
  redisUrl: string;
}

let shared: Promise<TestServices> | undefined;
let stopAll: () => Promise<void> = async () => {};

/** Stops the embedded PostgreSQL or spawned Redis this process started, if any. */
export async function stopTestServices(): Promise<void> {
  if (!shared) return;
  await shared.catch(() => undefined);
  await stopAll();
  shared = undefined;
}

/**
 * PostgreSQL and Redis for tests: `DATABASE_URL` / `REDIS_URL` when set (as `bun run test`
 * and CI set them), else an embedded PostgreSQL and a local or spawned Redis, started once
 * per process and stopped when it exits.
 */
export function testServices(): Promise<TestServices> {
  shared ??= start();
  return shared;
}

async function start(): Promise<TestServices> {
  const log = createLogger("test-services", "warn");
  const root = projectRoot();
  const stops: (() => Promise<void>)[] = [];
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const pg = await startEmbeddedPostgres({ dataRoot: `${root}/.data/test`, log });
    stops.push(pg.stop);
    adminUrl = pg.url;
  }
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const redis = await resolveLocalRedis({ dataRoot: `${root}/.data/test`, log });
    stops.push(redis.stop);
    redisUrl = redis.url;
  }
  stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  return { adminUrl, redisUrl };
}
