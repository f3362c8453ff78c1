import type { NodeRegistry } from "@conveyor/db";
import { Hono } from "hono";
import { type AuthVars, requireScope } from "../auth/index.ts";

/** `GET /v1/nodes` (admin): worker nodes, `up` or `lost`; a node that stopped cleanly is gone. */
export function nodeRoutes(nodes: NodeRegistry) {
  const app = new Hono<{ Variables: AuthVars }>();
  app.get("/", requireScope("admin"), async (c) => {
    const list = await nodes.listNodes();
    return c.json({
      nodes: list.map((n) => ({
        id: n.id,
        host: n.host,
        pid: n.pid,
        version: n.version,
        startedAt: n.startedAt.toISOString(),
        lastSeenAt: n.lastSeenAt.toISOString(),
        status: n.status,
        types: n.types,
        concurrency: n.concurrency,
        active: n.active,
        rssBytes: n.rssBytes,
        eventLoopLagMs: n.eventLoopLagMs,
      })),
    });
  });
  return app;
}
