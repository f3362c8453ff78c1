import { type Logger, metricsResponse, withTimeout } from "@conveyor/core";
import type { NodeRegistry } from "@conveyor/db";
import type { Dispatcher } from "@conveyor/scheduler";
import type { Context, MiddlewareHandler } from "hono";
import { Hono } from "hono";
import { matchedRoutes } from "hono/route";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** How long a scrape waits for Redis or PostgreSQL before it answers without their series. */
export const SCRAPE_TIMEOUT_MS = 2000;

/** The label of a request that matched no route: raw paths never become labels. */
export const UNMATCHED_ROUTE = "unmatched";

export interface ApiMetricsDeps {
  /** Task types whose queues are counted. */
  types: () => string[];
  /** BullMQ job counts per queue; without it the queue gauges are left out. */
  dispatcher?: Pick<Dispatcher, "counts">;
  nodes: Pick<NodeRegistry, "listNodes">;
  log: Logger;
  scrapeTimeoutMs?: number;
}

/** The api's Prometheus metrics, in a registry of its own (several apps may share a process). */
export interface ApiMetrics {
  registry: Registry;
  /** Counts and times every request under the route it matched. */
  middleware: MiddlewareHandler;
}

/** Shares one in-flight call among the collectors of one scrape (prom-client runs them together). */
function shared<T>(call: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    inFlight ??= call().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}

/** The route pattern that answered (`/v1/tasks/:id`): the last matched handler that is not middleware. */
function routeOf(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i];
    if (route && route.method !== "ALL") return route.path;
  }
  return UNMATCHED_ROUTE;
}

/** Builds the api's registry: HTTP traffic, plus queue and node gauges read from Redis and PostgreSQL at scrape time. */
export function createApiMetrics(deps: ApiMetricsDeps): ApiMetrics {
  const registry = new Registry();
  const timeoutMs = deps.scrapeTimeoutMs ?? SCRAPE_TIMEOUT_MS;

  const requests = new Counter({
    name: "conveyor_http_requests_total",
    help: "HTTP requests answered, by method, matched route pattern and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "conveyor_http_request_duration_seconds",
    help: "Time to answer an HTTP request, by method and matched route pattern",
    labelNames: ["method", "route"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });

  const queueCounts = shared(async () => {
    const { dispatcher } = deps;
    if (!dispatcher) return undefined;
    const types = deps.types();
    const counts = await withTimeout(
      Promise.all(types.map((type) => dispatcher.counts(type))),
      timeoutMs,
      "queue counts",
    );
    return types.map((type, i) => ({ type, counts: counts[i] ?? {} }));
  });
  // A series that cannot be read is left out rather than shown stale or as zero.
  const queueGauge = (name: string, help: string, pick: (counts: Record<string, number>) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["type"] as const,
      registers: [registry],
      async collect() {
        this.reset();
        try {
          const queues = await queueCounts();
          for (const q of queues ?? []) this.set({ type: q.type }, pick(q.counts));
        } catch (err) {
          deps.log.warn({ err: (err as Error).message, metric: name }, "queue counts not collected");
        }
      },
    });
  // BullMQ keeps jobs with a priority in a set of their own: they are waiting too.
  queueGauge(
    "conveyor_queue_waiting",
    "Jobs waiting to start, per task type",
    (c) => (c.wait ?? 0) + (c.prioritized ?? 0),
  );
  queueGauge("conveyor_queue_active", "Jobs held by a worker now, per task type", (c) => c.active ?? 0);
  queueGauge(
    "conveyor_queue_delayed",
    "Jobs waiting for their time (delay or retry backoff), per task type",
    (c) => c.delayed ?? 0,
  );

  new Gauge({
    name: "conveyor_nodes",
    help: "Worker nodes heard from within the hour, by status (up, or lost: silent for 15 s)",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const nodes = await withTimeout(deps.nodes.listNodes(), timeoutMs, "node list");
        const byStatus: Record<string, number> = { up: 0, lost: 0 };
        for (const n of nodes) byStatus[n.status] = (byStatus[n.status] ?? 0) + 1;
        for (const [status, count] of Object.entries(byStatus)) this.set({ status }, count);
      } catch (err) {
        deps.log.warn({ err: (err as Error).message }, "node counts not collected");
      }
    },
  });

  const middleware: MiddlewareHandler = async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const route = routeOf(c);
      const method = c.req.method;
      requests.inc({ method, route, status: String(c.res.status) });
      duration.observe({ method, route }, (performance.now() - started) / 1000);
    }
  };
  return { registry, middleware };
}

/** `GET /metrics`: the registry in Prometheus text format. */
export function prometheusRoutes(registry: Registry) {
  const app = new Hono();
  app.get("/metrics", () => metricsResponse(registry));
  return app;
}
