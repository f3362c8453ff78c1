import type { Services } from "@conveyor/scheduler";

/**
 * The environment of an app process this script starts: its own, pointed at the PostgreSQL and
 * Redis it resolved (Redis by URL unless on a cluster), with migrations left out (they ran here,
 * once), plus `extra`.
 */
export function appEnv(services: Services, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, { DATABASE_URL: services.databaseUrl, MIGRATE_ON_START: "false" }, extra);
  if (services.redis.clusterNodes.length === 0) env.REDIS_URL = services.redis.url;
  return env;
}
