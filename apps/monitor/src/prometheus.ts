import { metricsResponse } from "@conveyor/core";
import { Hono } from "hono";
import { Counter, Gauge, Registry } from "prom-client";

/** The monitor's Prometheus metrics, in a registry of its own (several apps may share a process). */
export function createMonitorMetrics() {
  const registry = new Registry();
  return {
    registry,
    clients: new Gauge({
      name: "conveyor_monitor_clients",
      help: "Clients connected to the live event relay, by kind (sse or ws)",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: "conveyor_monitor_events_total",
      help: "Task events read from the event stream by this monitor",
      registers: [registry],
    }),
    dropped: new Counter({
      name: "conveyor_monitor_dropped_clients_total",
      help: "Clients dropped because they read too slowly, by kind (sse or ws)",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
  };
}

export type MonitorMetrics = ReturnType<typeof createMonitorMetrics>;

/** `GET /metrics`: the registry in Prometheus text format. */
export function prometheusRoutes(registry: Registry) {
  const app = new Hono();
  app.get("/metrics", () => metricsResponse(registry));
  return app;
}
