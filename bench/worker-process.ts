/**
 * One Conveyor worker node in a process of its own for the benchmarks (so its RSS and CPU are
 * its own), built with `createWorkerNode` like apps/worker does. Started by bench/index.ts.
 */
import { createLogger, waitReady } from "@conveyor/core";
import { createRuntime } from "@conveyor/scheduler";
import { createWorkerNode } from "@conveyor/worker";
import { PhaseTimer, serveParent } from "./child.ts";
import { childConfig, type WorkerProcessConfig } from "./messages.ts";
import { benchCatalog } from "./quiet-sleep.ts";

const config = childConfig<WorkerProcessConfig>();
const log = createLogger("bench-worker", process.env.BENCH_LOG_LEVEL ?? "warn");
const redis = { url: config.redisUrl, clusterNodes: [] };
const runtime = createRuntime({
  databaseUrl: config.databaseUrl,
  redis,
  queuePrefix: config.queuePrefix,
  log,
  appName: "bench-worker",
  // As the real process runs it (the defaults of RECONCILE_INTERVAL_MS and TASK_RETENTION_DAYS).
  reconcile: { intervalMs: 10_000, retentionDays: 30 },
  catalog: config.benchTypes ? benchCatalog() : undefined,
});
await waitReady(runtime.redis, 10_000);

const phases = new PhaseTimer();
for (const m of ["startAttempt", "finishAttempt", "setProgress"] as const) {
  phases.wrap(runtime.ledger, m, `ledger.${m}`);
}
phases.wrap(runtime.events, "publish", "events.publish");

const node = createWorkerNode({
  ledger: runtime.ledger,
  catalog: runtime.catalog,
  events: runtime.events,
  redis,
  queuePrefix: config.queuePrefix,
  log,
  types: config.types,
  concurrency: config.concurrency,
  lockMs: 30_000,
  // Fixed at each type's maximum, as raw BullMQ's Worker runs at the concurrency it is given: the
  // scenarios compare capacity, not how fast the node's autoscaler ramps up (a second a step).
  autoscale: false,
});
await node.start();

let activePeak = 0;
const sampler = setInterval(() => {
  activePeak = Math.max(activePeak, node.activeCount);
}, 20);

const parent = serveParent({
  stats: () => ({ activePeak, phases: phases.snapshot() }),
  stop: async () => {
    clearInterval(sampler);
    await node.close(0);
    await runtime.close();
  },
});
parent.ready();
