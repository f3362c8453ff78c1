import type { Logger, ReadinessCheck } from "@conveyor/core";
import type { AuditLog, KeyStore, NodeRegistry } from "@conveyor/db";
import type { TaskCatalog } from "@conveyor/handlers";
import {
  createAuthenticator,
  DEFAULT_TARGET_DRAIN_S,
  type Dispatcher,
  type Queues,
  type Runtime,
  runtimeChecks,
  ScalingService,
  type Scheduler,
  type Schedules,
} from "@conveyor/scheduler";
import { Hono } from "hono";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import { auditRoutes, auditTrail } from "./audit/index.ts";
import { type Authenticator, type AuthVars, requireAuth } from "./auth/index.ts";
import { jsonBody } from "./body/index.ts";
import { errorHandler, notFound } from "./errors/index.ts";
import { openApiRoutes } from "./openapi/index.ts";
import { createApiMetrics, prometheusRoutes } from "./prometheus.ts";
import { RedisRateLimiter, type SubmissionLimiter, unlimited } from "./rate-limit/index.ts";
import { healthRoutes } from "./routes/health.ts";
import { keyRoutes } from "./routes/keys.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { nodeRoutes } from "./routes/nodes.ts";
import { queueRoutes } from "./routes/queues.ts";
import { type ScalingSource, scalingRoutes } from "./routes/scaling.ts";
import { scheduleRoutes } from "./routes/schedules.ts";
import { sessionRoutes } from "./routes/sessions.ts";
import { taskTypeRoutes } from "./routes/task-types.ts";
import { taskRoutes } from "./routes/tasks.ts";

export interface ApiDeps {
  scheduler: Scheduler;
  /** Recurring schedules (`/v1/schedules`); without them those routes answer 503. */
  schedules?: Schedules;
  queues: Queues;
  catalog: TaskCatalog;
  nodes: NodeRegistry;
  /** `createAuthenticator` (keys, sessions and the bootstrap key), or `adminKeyAuthenticator` (that key alone). */
  auth: Authenticator;
  /** API keys and sessions (`/v1/keys`, `/v1/sessions`); without it those answer 503. */
  keys?: KeyStore;
  checks: Record<string, ReadinessCheck>;
  log: Logger;
  maxBodyBytes: number;
  /** Where changes are recorded (`GET /v1/audit`); without one nothing is recorded. */
  audit?: AuditLog;
  /** Per-key submission limits; default: none. */
  limiter?: SubmissionLimiter;
  /** Browser origins allowed to call `/v1` with credentials (CORS_ORIGINS); default none: CORS off. */
  corsOrigins?: string[];
  /** `GET /metrics` (METRICS_ENABLED); default true. */
  metricsEnabled?: boolean;
  /** BullMQ job counts for the `conveyor_queue_*` gauges; without it they are left out. */
  dispatcher?: Pick<Dispatcher, "counts">;
  /** The autoscaling signal (`GET /v1/scaling`); without it that route answers 503. */
  scaling?: ScalingSource;
}

/**
 * The api's dependencies, all taken from one runtime: the entry, the test harness and any other
 * caller that wants the real thing build it the same way.
 */
export function apiDepsFromRuntime(
  runtime: Runtime,
  opts: {
    adminKey: string;
    log: Logger;
    maxBodyBytes: number;
    corsOrigins?: string[];
    metricsEnabled?: boolean;
    /** SCALING_TARGET_DRAIN_S; default 60. */
    scalingTargetDrainS?: number;
  },
): ApiDeps {
  return {
    scheduler: runtime.scheduler,
    schedules: runtime.schedules,
    queues: runtime.queues,
    catalog: runtime.catalog,
    nodes: runtime.nodes,
    auth: createAuthenticator({ keys: runtime.keys, adminKey: opts.adminKey }),
    keys: runtime.keys,
    log: opts.log,
    maxBodyBytes: opts.maxBodyBytes,
    audit: runtime.audit,
    limiter: new RedisRateLimiter(runtime.redis, runtime.dispatcher.prefix, opts.log),
    corsOrigins: opts.corsOrigins,
    metricsEnabled: opts.metricsEnabled,
    dispatcher: runtime.dispatcher,
    scaling: new ScalingService(
      { ledger: runtime.ledger, nodes: runtime.nodes },
      { targetDrainSeconds: opts.scalingTargetDrainS ?? DEFAULT_TARGET_DRAIN_S },
    ),
    checks: runtimeChecks(runtime),
  };
}

/** The HTTP API. Thin: it authenticates, validates, and calls the scheduler. */
export function createApp(deps: ApiDeps) {
  const app = new Hono<{ Variables: AuthVars }>();
  app.onError(errorHandler(deps.log));
  app.notFound(notFound);

  if (deps.metricsEnabled ?? true) {
    // First, so every request is counted and timed, error answers included.
    const metrics = createApiMetrics({
      types: () => deps.catalog.types,
      dispatcher: deps.dispatcher,
      nodes: deps.nodes,
      log: deps.log,
    });
    app.use("*", metrics.middleware);
    app.route("/", prometheusRoutes(metrics.registry));
  }
  app.route("/", healthRoutes(deps.checks));
  app.route("/", openApiRoutes());

  // Registered before every /v1 route, so error answers and CORS preflights get them too. Answers
  // hold tenants' data: no cache may keep them, no page may frame them.
  app.use("/v1/*", secureHeaders({ xFrameOptions: "DENY", referrerPolicy: "no-referrer" }), async (c, next) => {
    await next();
    c.res.headers.set("Cache-Control", "no-store");
  });
  const corsOrigins = deps.corsOrigins ?? [];
  if (corsOrigins.length > 0) {
    app.use("/v1/*", cors({ origin: corsOrigins, credentials: true, exposeHeaders: ["Retry-After"], maxAge: 600 }));
  }
  app.use("/v1/*", auditTrail(deps.audit, deps.log));

  const v1 = new Hono<{ Variables: AuthVars }>();
  // Before the auth middleware: Hono runs handlers in the order they were added, so logging in
  // (the one call made without a key) answers before requireAuth would run.
  v1.route("/sessions", sessionRoutes(deps.keys, deps.auth, deps.maxBodyBytes));
  v1.use("*", requireAuth(deps.auth), jsonBody(deps.maxBodyBytes));
  v1.route("/keys", keyRoutes(deps.keys, deps.auth));
  v1.route("/tasks", taskRoutes(deps.scheduler, deps.limiter ?? unlimited));
  v1.route("/schedules", scheduleRoutes(deps.schedules));
  v1.route("/queues", queueRoutes(deps.queues));
  v1.route("/task-types", taskTypeRoutes(deps.catalog));
  v1.route("/nodes", nodeRoutes(deps.nodes));
  v1.route("/scaling", scalingRoutes(deps.scaling));
  v1.route("/metrics", metricsRoutes(deps.scheduler));
  v1.route("/audit", auditRoutes(deps.audit));
  v1.get("/whoami", (c) => {
    const { tenant, name, scopes } = c.get("principal");
    return c.json({ tenant, name, scopes });
  });
  app.route("/v1", v1);
  return app;
}

export type { Authenticator } from "./auth/index.ts";
export { adminKeyAuthenticator, createAuthenticator, SESSION_COOKIE } from "./auth/index.ts";
export { OPERATIONS, type Operation } from "./openapi/operations.ts";
export { RedisRateLimiter, type SubmissionLimiter } from "./rate-limit/index.ts";
