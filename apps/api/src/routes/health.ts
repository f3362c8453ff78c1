import { checkReadiness, type ReadinessCheck } from "@conveyor/core";
import { Hono } from "hono";

/** `/healthz` (the process answers) and `/readyz` (its dependencies answer too). */
export function healthRoutes(checks: Record<string, ReadinessCheck>) {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const { ready, checks: results } = await checkReadiness(checks);
    return c.json({ status: ready ? "ready" : "unavailable", checks: results }, ready ? 200 : 503);
  });
  return app;
}
