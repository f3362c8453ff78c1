import { MetricsQuery, MetricsSeriesQuery, type Scheduler } from "@conveyor/scheduler";
import { Hono } from "hono";
import { type AuthVars, requireScope, tenantFilter } from "../auth/index.ts";
import { validate } from "../validate/index.ts";

/** `/v1/metrics`: task metrics over recent whole minutes, the caller's tenant (admin: all). */
export function metricsRoutes(scheduler: Scheduler) {
  const app = new Hono<{ Variables: AuthVars }>();

  app.get("/", requireScope("tasks:read"), validate("query", MetricsQuery), async (c) => {
    const { window } = c.req.valid("query");
    return c.json(await scheduler.metrics({ window, tenant: tenantFilter(c.get("principal")) }));
  });

  app.get("/series", requireScope("tasks:read"), validate("query", MetricsSeriesQuery), async (c) => {
    const { window, step } = c.req.valid("query");
    return c.json(await scheduler.metricsSeries({ window, step, tenant: tenantFilter(c.get("principal")) }));
  });

  return app;
}
