import { pingAll, type ReadinessCheck } from "@conveyor/core";
import type { Runtime } from "./runtime.ts";

/** What `/readyz` checks in a process built on a runtime: PostgreSQL answers, every Redis master answers. */
export function runtimeChecks(runtime: Pick<Runtime, "pg" | "redis">): Record<string, ReadinessCheck> {
  return {
    postgres: async () => void (await runtime.pg.sql`select 1`),
    redis: () => pingAll(runtime.redis),
  };
}
