import { checkReadiness, type ReadinessCheck } from "@conveyor/core";
import { Hono } from "hono";

/** The worker's small HTTP face: `/healthz`, `/readyz`. */
export function createWorkerHttp(node: { id: string }, checks: Record<string, ReadinessCheck>) {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok", node: node.id }));
  app.get("/readyz", async (c) => {
    const { ready, checks: results } = await checkReadiness(checks);
    return c.json({ status: ready ? "ready" : "unavailable", node: node.id, checks: results }, ready ? 200 : 503);
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: "not found", details: [] } }, 404));
  return app;
}
