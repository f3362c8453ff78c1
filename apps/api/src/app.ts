import type { Logger, ReadinessCheck } from "@conveyor/core";
import type { NodeRegistry } from "@conveyor/db";
import type { TaskCatalog } from "@conveyor/handlers";
import type { Queues, Scheduler } from "@conveyor/scheduler";
import { Hono } from "hono";
import { type Authenticator, type AuthVars, requireAuth } from "./auth/index.ts";
import { jsonBody } from "./body/index.ts";
import { errorHandler, notFound } from "./errors/index.ts";
import { openApiRoutes } from "./openapi/index.ts";
import { healthRoutes } from "./routes/health.ts";
import { nodeRoutes } from "./routes/nodes.ts";
import { queueRoutes } from "./routes/queues.ts";
import { taskTypeRoutes } from "./routes/task-types.ts";
import { taskRoutes } from "./routes/tasks.ts";

export interface ApiDeps {
  scheduler: Scheduler;
  queues: Queues;
  catalog: TaskCatalog;
  nodes: NodeRegistry;
  auth: Authenticator;
  checks: Record<string, ReadinessCheck>;
  log: Logger;
  maxBodyBytes: number;
}

/** The HTTP API. Thin: it authenticates, validates, and calls the scheduler. */
export function createApp(deps: ApiDeps) {
  const app = new Hono<{ Variables: AuthVars }>();
  app.onError(errorHandler(deps.log));
  app.notFound(notFound);

  app.route("/", healthRoutes(deps.checks));
  app.route("/", openApiRoutes());

  const v1 = new Hono<{ Variables: AuthVars }>();
  v1.use("*", requireAuth(deps.auth), jsonBody(deps.maxBodyBytes));
  v1.route("/tasks", taskRoutes(deps.scheduler));
  v1.route("/queues", queueRoutes(deps.queues));
  v1.route("/task-types", taskTypeRoutes(deps.catalog));
  v1.route("/nodes", nodeRoutes(deps.nodes));
  v1.get("/whoami", (c) => {
    const { tenant, name, scopes } = c.get("principal");
    return c.json({ tenant, name, scopes });
  });
  app.route("/v1", v1);
  return app;
}

export type { Authenticator } from "./auth/index.ts";
export { adminKeyAuthenticator } from "./auth/index.ts";
