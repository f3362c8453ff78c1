import { isUuid, NotFoundError } from "@conveyor/core";
import { type Scheduler, SubmitTask } from "@conveyor/scheduler";
import { Hono } from "hono";
import { type AuthVars, requireScope, tenantFilter } from "../auth/index.ts";
import { validate } from "../validate/index.ts";

/** `/v1/tasks`: submit and read tasks. */
export function taskRoutes(scheduler: Scheduler) {
  const app = new Hono<{ Variables: AuthVars }>();

  app.post("/", requireScope("tasks:write"), validate("json", SubmitTask), async (c) => {
    const { task, created } = await scheduler.submit(c.req.valid("json"), c.get("principal").tenant);
    return c.json(task, created ? 202 : 200);
  });

  app.get("/:id", requireScope("tasks:read"), async (c) => {
    const id = c.req.param("id");
    const task = isUuid(id) ? await scheduler.get(id, tenantFilter(c.get("principal"))) : null;
    if (!task) throw new NotFoundError(`no task ${id}`);
    return c.json(task);
  });

  app.get("/:id/attempts", requireScope("tasks:read"), async (c) => {
    const id = c.req.param("id");
    const task = isUuid(id) ? await scheduler.get(id, tenantFilter(c.get("principal"))) : null;
    if (!task) throw new NotFoundError(`no task ${id}`);
    return c.json({ attempts: await scheduler.attempts(id) });
  });

  return app;
}
