/**
 * Raw BullMQ for the benchmarks: `workers` Worker instances on one queue, each with its own
 * connection and `concurrency`, running a no-op (or a plain sleep) processor. Started by
 * bench/index.ts; counts completions and, when asked, job.timestamp-to-start latencies.
 */
import { type Job, Worker } from "bullmq";
import { Redis } from "ioredis";
import { serveParent } from "./child.ts";
import { childConfig, type RawWorkerProcessConfig } from "./messages.ts";

const config = childConfig<RawWorkerProcessConfig>();
let active = 0;
let activePeak = 0;
let completed = 0;
let lastCompletedAt = 0;
const latenciesMs: number[] = [];

async function processor(job: Job<{ warm?: boolean }>): Promise<void> {
  if (config.recordLatency && !job.data.warm) latenciesMs.push(Date.now() - job.timestamp);
  active++;
  activePeak = Math.max(activePeak, active);
  try {
    if (config.sleepMs > 0) await Bun.sleep(config.sleepMs);
  } finally {
    active--;
  }
}

const workers: Worker[] = [];
const connections: Redis[] = [];
for (let i = 0; i < config.workers; i++) {
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  connections.push(connection);
  const worker = new Worker(config.queue, processor, {
    connection,
    prefix: config.queuePrefix,
    concurrency: config.concurrency,
  });
  worker.on("error", (err) => console.error("raw worker error", err.message));
  worker.on("completed", () => {
    completed++;
    lastCompletedAt = Date.now();
  });
  workers.push(worker);
}
await Promise.all(workers.map((w) => w.waitUntilReady()));

const parent = serveParent({
  stats: () => ({
    activePeak,
    completed,
    lastCompletedAt,
    latenciesMs: config.recordLatency ? latenciesMs : undefined,
  }),
  stop: async () => {
    await Promise.all(workers.map((w) => w.close()));
    for (const c of connections) c.disconnect();
  },
});
parent.ready();
