import { isUuid, NotFoundError, UnavailableError } from "@conveyor/core";
import { CreateSchedule, PatchSchedule, type Schedules } from "@conveyor/scheduler";
import { Hono } from "hono";
import { type AuthVars, requireScope, tenantFilter } from "../auth/index.ts";
import { validate } from "../validate/index.ts";

/**
 * `/v1/schedules`: recurring schedules of the caller's tenant (admin: every tenant's). Another
 * tenant's schedule, and a malformed id, answer 404.
 */
export function scheduleRoutes(schedules: Schedules | undefined) {
  const app = new Hono<{ Variables: AuthVars }>();

  const service = (): Schedules => {
    if (!schedules) throw new UnavailableError("this process keeps no schedules");
    return schedules;
  };
  const idOf = (id: string): string => {
    if (!isUuid(id)) throw new NotFoundError(`no schedule ${id}`);
    return id;
  };

  app.post("/", requireScope("tasks:write"), validate("json", CreateSchedule), async (c) => {
    return c.json(await service().create(c.req.valid("json"), c.get("principal").tenant), 201);
  });

  app.get("/", requireScope("tasks:read"), async (c) => {
    return c.json({ schedules: await service().list(tenantFilter(c.get("principal"))) });
  });

  app.get("/:id", requireScope("tasks:read"), async (c) => {
    return c.json(await service().get(idOf(c.req.param("id")), tenantFilter(c.get("principal"))));
  });

  app.patch("/:id", requireScope("tasks:write"), validate("json", PatchSchedule), async (c) => {
    const id = idOf(c.req.param("id"));
    return c.json(await service().update(id, tenantFilter(c.get("principal")), c.req.valid("json")));
  });

  app.delete("/:id", requireScope("tasks:write"), async (c) => {
    await service().delete(idOf(c.req.param("id")), tenantFilter(c.get("principal")));
    return c.body(null, 204);
  });

  app.post("/:id/pause", requireScope("tasks:write"), async (c) => {
    return c.json(await service().setPaused(idOf(c.req.param("id")), tenantFilter(c.get("principal")), true));
  });

  app.post("/:id/resume", requireScope("tasks:write"), async (c) => {
    return c.json(await service().setPaused(idOf(c.req.param("id")), tenantFilter(c.get("principal")), false));
  });

  app.post("/:id/trigger", requireScope("tasks:write"), async (c) => {
    return c.json(await service().trigger(idOf(c.req.param("id")), tenantFilter(c.get("principal"))), 202);
  });

  return app;
}
