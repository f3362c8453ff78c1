import { isUuid, NotFoundError } from "@conveyor/core";
import {
  GetTaskQuery,
  ListTasksQuery,
  RetryFailed,
  type Scheduler,
  SubmitBatch,
  SubmitTask,
  SummaryQuery,
  type Task,
} from "@conveyor/scheduler";
import { Hono } from "hono";
import { type AuthVars, requireScope, tenantFilter } from "../auth/index.ts";
import { type SubmissionLimiter, withinLimit } from "../rate-limit/index.ts";
import { validate } from "../validate/index.ts";

/** `/v1/tasks`: submit (within the key's rate limit), read, list, cancel and retry tasks. */
export function taskRoutes(scheduler: Scheduler, limiter: SubmissionLimiter) {
  const app = new Hono<{ Variables: AuthVars }>();

  /** The task, or 404 (also for a malformed id and for another tenant's task). */
  async function findTask(id: string, tenant: string | null): Promise<Task> {
    const task = isUuid(id) ? await scheduler.get(id, tenant) : null;
    if (!task) throw new NotFoundError(`no task ${id}`);
    return task;
  }

  app.post("/", requireScope("tasks:write"), validate("json", SubmitTask), async (c) => {
    const principal = c.get("principal");
    const { task, created } = await withinLimit(limiter, principal, 1, () =>
      scheduler.submit(c.req.valid("json"), principal.tenant),
    );
    return c.json(task, created ? 202 : 200);
  });

  app.post("/batch", requireScope("tasks:write"), validate("json", SubmitBatch), async (c) => {
    const { tasks } = c.req.valid("json");
    const principal = c.get("principal");
    // Checked after validation: a batch costs one per task, and a malformed one costs nothing.
    const results = await withinLimit(limiter, principal, tasks.length, () =>
      scheduler.submitBatch(tasks, principal.tenant),
    );
    return c.json({ tasks: results.map((r) => r.task) }, 202);
  });

  app.post("/retry", requireScope("tasks:write"), validate("json", RetryFailed), async (c) => {
    const retried = await scheduler.retryFailed({ ...c.req.valid("json"), tenant: c.get("principal").tenant });
    return c.json({ retried }, 202);
  });

  app.get("/", requireScope("tasks:read"), validate("query", ListTasksQuery), async (c) => {
    const query = c.req.valid("query");
    return c.json(await scheduler.list({ ...query, tenant: tenantFilter(c.get("principal")) }));
  });

  app.get("/summary", requireScope("tasks:read"), validate("query", SummaryQuery), async (c) => {
    return c.json(await scheduler.summary({ ...c.req.valid("query"), tenant: tenantFilter(c.get("principal")) }));
  });

  app.get("/failures", requireScope("tasks:read"), validate("query", SummaryQuery), async (c) => {
    const groups = await scheduler.failures({ ...c.req.valid("query"), tenant: tenantFilter(c.get("principal")) });
    return c.json({ groups });
  });

  app.get("/:id", requireScope("tasks:read"), validate("query", GetTaskQuery), async (c) => {
    const id = c.req.param("id");
    const tenant = tenantFilter(c.get("principal"));
    const { waitMs } = c.req.valid("query");
    const task = waitMs && isUuid(id) ? await scheduler.waitFor(id, tenant, waitMs) : await findTask(id, tenant);
    if (!task) throw new NotFoundError(`no task ${id}`);
    return c.json(task);
  });

  app.get("/:id/attempts", requireScope("tasks:read"), async (c) => {
    const id = c.req.param("id");
    await findTask(id, tenantFilter(c.get("principal")));
    return c.json({ attempts: await scheduler.attempts(id) });
  });

  app.get("/:id/logs", requireScope("tasks:read"), async (c) => {
    const id = c.req.param("id");
    await findTask(id, tenantFilter(c.get("principal")));
    return c.json({ logs: await scheduler.logs(id) });
  });

  app.post("/:id/cancel", requireScope("tasks:write"), async (c) => {
    const id = c.req.param("id");
    if (!isUuid(id)) throw new NotFoundError(`no task ${id}`);
    return c.json(await scheduler.cancel(id, tenantFilter(c.get("principal"))));
  });

  app.post("/:id/retry", requireScope("tasks:write"), async (c) => {
    const id = c.req.param("id");
    if (!isUuid(id)) throw new NotFoundError(`no task ${id}`);
    return c.json(await scheduler.retry(id, tenantFilter(c.get("principal"))), 202);
  });

  return app;
}
