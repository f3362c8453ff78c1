import { createLogger, dataDir, evictingNodes, onShutdown, parseEnv, projectRoot } from "@conveyor/core";
import { createRuntimeFromEnv, resolveServices, runtimeChecks, ScheduleTicker } from "@conveyor/scheduler";
import { parseConcurrency } from "./concurrency.ts";
import { createWorkerNode } from "./node.ts";

// A worker node process: read env, wire real dependencies, take jobs.
const env = parseEnv();
const log = createLogger("worker", env.LOG_LEVEL);
const services = await resolveServices(env, log, dataDir(env, projectRoot()));
const runtime = createRuntimeFromEnv(env, services, log, "conveyor-worker");
const types = env.WORKER_TYPES.length ? env.WORKER_TYPES : runtime.catalog.types;
const node = createWorkerNode({
  ledger: runtime.ledger,
  catalog: runtime.catalog,
  events: runtime.events,
  redis: services.redis,
  queuePrefix: env.QUEUE_PREFIX,
  log,
  types,
  concurrency: parseConcurrency(env.WORKER_CONCURRENCY, runtime.catalog, types),
  lockMs: env.JOB_LOCK_MS,
  metricsEnabled: env.METRICS_ENABLED,
  checks: runtimeChecks(runtime),
});
await node.start();
// Every worker process also takes schedule ticks: BullMQ hands each tick to one of them.
const ticker = new ScheduleTicker({
  schedules: runtime.schedules,
  redis: services.redis,
  queuePrefix: env.QUEUE_PREFIX,
  log,
});
await ticker.start();
const evicting = await evictingNodes(runtime.redis).catch(() => []);
if (evicting.length > 0) {
  log.warn(
    { nodes: evicting },
    "Redis should run with maxmemory-policy noeviction: an evicted job is a lost task until the reconciler puts it back",
  );
}
const server = Bun.serve({ port: env.WORKER_PORT, hostname: "0.0.0.0", fetch: node.http.fetch });
log.info({ url: `http://127.0.0.1:${server.port}`, node: node.id }, "worker listening");

// On SIGTERM/SIGINT: take no new task, let running ones finish within SHUTDOWN_GRACE_MS, hand
// back the rest (`interrupted`), leave the node list, close connections, exit 0. A second signal
// ends the grace period at once (Ctrl-C twice).
onShutdown({
  name: "worker",
  log,
  graceMs: env.SHUTDOWN_GRACE_MS,
  stop: async () => {
    await node.close(env.SHUTDOWN_GRACE_MS);
    await ticker.close();
    await server.stop(true);
    await runtime.close();
    await services.stop();
  },
  again: (signal) => {
    log.info({ signal }, "handing back running tasks now");
    node.interrupt();
  },
});
