import { checkReadiness, metricsResponse, type ReadinessCheck } from "@conveyor/core";
import { Hono } from "hono";
import type { Registry } from "prom-client";

/** The worker's small HTTP face: `/healthz`, `/readyz`, and `/metrics` when given a registry. */
export function createWorkerHttp(node: { id: string }, checks: Record<string, ReadinessCheck>, metrics?: Registry) {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok", node: node.id }));
  app.get("/readyz", async (c) => {
    const { ready, checks: results } = await checkReadiness(checks);
    return c.json({ status: ready ? "ready" : "unavailable", node: node.id, checks: results }, ready ? 200 : 503);
  });
  if (metrics) {
    app.get("/metrics", () => metricsResponse(metrics));
  }
  app.notFound((c) => c.json({ error: { code: "not_found", message: "not found", details: [] } }, 404));
  return app;
}
