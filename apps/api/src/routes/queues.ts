import { PatchQueue, type Queues } from "@conveyor/scheduler";
import { Hono } from "hono";
import { type AuthVars, requireScope } from "../auth/index.ts";
import { validate } from "../validate/index.ts";

/** `/v1/queues` (admin): counts per task type, pause and resume, cluster-wide limits. */
export function queueRoutes(queues: Queues) {
  const app = new Hono<{ Variables: AuthVars }>();
  app.use("*", requireScope("admin"));
  app.get("/", async (c) => c.json({ queues: await queues.list() }));
  app.post("/:type/pause", async (c) => c.json(await queues.setPaused(c.req.param("type"), true)));
  app.post("/:type/resume", async (c) => c.json(await queues.setPaused(c.req.param("type"), false)));
  app.patch("/:type", validate("json", PatchQueue), async (c) =>
    c.json(await queues.setLimits(c.req.param("type"), c.req.valid("json"))),
  );
  return app;
}
