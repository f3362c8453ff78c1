/**
 * The api in a process of its own for the benchmarks: `createApp` served by Bun.serve on a
 * free port, over a runtime on the scenario's database and queue prefix. Started by
 * bench/index.ts, which reads the port from the `ready` message.
 */
import { apiDepsFromRuntime, createApp } from "@conveyor/api";
import { createLogger, waitReady } from "@conveyor/core";
import { createRuntime } from "@conveyor/scheduler";
import { PhaseTimer, serveParent } from "./child.ts";
import { type ApiProcessConfig, childConfig } from "./messages.ts";
import { benchCatalog } from "./quiet-sleep.ts";

const config = childConfig<ApiProcessConfig>();
const log = createLogger("bench-api", process.env.BENCH_LOG_LEVEL ?? "warn");
const runtime = createRuntime({
  databaseUrl: config.databaseUrl,
  redis: { url: config.redisUrl, clusterNodes: [] },
  queuePrefix: config.queuePrefix,
  log,
  appName: "bench-api",
  // As the real process runs it (the defaults of RECONCILE_INTERVAL_MS and TASK_RETENTION_DAYS).
  reconcile: { intervalMs: 10_000, retentionDays: 30 },
  catalog: config.benchTypes ? benchCatalog() : undefined,
});
await waitReady(runtime.redis, 10_000);

const phases = new PhaseTimer();
for (const m of ["insertTask", "insertBatch"] as const) phases.wrap(runtime.ledger, m, `ledger.${m}`);
phases.wrap(runtime.events, "publish", "events.publish");
for (const m of ["add", "addMany"] as const) phases.wrap(runtime.dispatcher, m, `dispatcher.${m}`);

// The app as the real api process builds it (authenticator, audit, limits, Prometheus).
const app = createApp(apiDepsFromRuntime(runtime, { adminKey: config.adminKey, log, maxBodyBytes: 1_048_576 }));
const http = { fetch: (req: Request) => app.fetch(req) };
phases.wrap(http, "fetch", "http.request");
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: http.fetch });

const parent = serveParent({
  stats: () => ({ phases: phases.snapshot() }),
  stop: async () => {
    await server.stop(true);
    await runtime.close();
  },
});
parent.ready(server.port);
