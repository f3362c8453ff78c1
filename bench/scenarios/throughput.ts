import { TaskCatalog } from "@conveyor/handlers";
import { type BenchContext, cpuBetween, ownCpuMs, RAW_JOB_OPTIONS, round } from "../context.ts";
import { inParallel } from "../load.ts";
import { ratio, type ScenarioResult } from "../report.ts";
import { serviceUsage, usageSpent } from "../service-usage.ts";
import { ConveyorSetup, RawSetup } from "../setups.ts";

const BATCH = 1000;
/** Batches in flight at once, for both sides. */
const SUBMITTERS = 4;

/**
 * No-op tasks as fast as they go: Conveyor through `POST /v1/tasks/batch` (1000 per request)
 * from first submit to the last `completed` in the ledger; raw BullMQ through `addBulk` from
 * first add to the last `completed` event of its worker. Same worker concurrency on both.
 */
export async function throughput(ctx: BenchContext): Promise<ScenarioResult> {
  const count = ctx.quick ? 5_000 : 20_000;
  const concurrency = new TaskCatalog().get("echo").defaults.concurrency.max;
  const timeoutMs = 60_000 + count * 10;
  const batches = Array.from({ length: Math.ceil(count / BATCH) }, (_, b) =>
    Array.from({ length: Math.min(BATCH, count - b * BATCH) }, (_, i) => b * BATCH + i),
  );

  ctx.log(`throughput: raw BullMQ, ${count} jobs, concurrency ${concurrency}`);
  const raw = new RawSetup("throughput", ctx.redisUrl);
  let rawFigures: Record<string, unknown>;
  let rawPerSec: number;
  try {
    const worker = await raw.startWorker({ workers: 1, concurrency, sleepMs: 0, recordLatency: false });
    const workerBefore = await worker.stats();
    const cpuBefore = await serviceUsage(ctx.redisUrl);
    const ownBefore = process.cpuUsage();
    const t0 = Date.now();
    await inParallel(batches, SUBMITTERS, async (ids) => {
      await raw.queue.addBulk(ids.map((i) => ({ name: "echo", data: { i }, opts: RAW_JOB_OPTIONS })));
    });
    const submitMs = Date.now() - t0;
    const done = await raw.waitCompleted(count, timeoutMs);
    const seconds = ((done.lastCompletedAt ?? Date.now()) - t0) / 1000;
    rawPerSec = count / seconds;
    rawFigures = {
      seconds: round(seconds, 3),
      tasksPerSec: round(rawPerSec, 1),
      submitMs,
      cost: {
        worker: cpuBetween(workerBefore, done),
        producer: ownCpuMs(ownBefore),
        ...usageSpent(cpuBefore, await serviceUsage(ctx.redisUrl), count),
      },
      workerRssPeakBytes: done.rssPeakBytes,
    };
  } finally {
    await raw.close();
  }

  ctx.log(`throughput: Conveyor, ${count} echo tasks, batches of ${BATCH}`);
  const cv = await ConveyorSetup.open("throughput", ctx.redisUrl);
  let cvFigures: Record<string, unknown>;
  let cvPerSec: number;
  try {
    const api = await cv.startApi();
    const worker = await cv.startWorker({ types: ["echo"] });
    const [apiBefore, workerBefore] = await Promise.all([api.stats(), worker.stats()]);
    const bodies = batches.map((ids) => JSON.stringify({ tasks: ids.map((i) => ({ type: "echo", payload: { i } })) }));
    const cpuBefore = await serviceUsage(ctx.redisUrl);
    const ownBefore = process.cpuUsage();
    const t0 = await cv.ledger.now();
    const submitStarted = performance.now();
    await inParallel(bodies, SUBMITTERS, (body) => cv.call("POST", "/v1/tasks/batch", body, 202));
    const submitMs = Math.round(performance.now() - submitStarted);
    const done = await cv.ledger.waitFinished(count, timeoutMs);
    const seconds = ((done.lastFinishedAt ?? t0) - t0) / 1000;
    cvPerSec = count / seconds;
    const [apiAfter, workerAfter] = await Promise.all([api.stats(), worker.stats()]);
    cvFigures = {
      seconds: round(seconds, 3),
      tasksPerSec: round(cvPerSec, 1),
      submitMs,
      completed: done.completed,
      failed: done.finished - done.completed,
      cost: {
        api: cpuBetween(apiBefore, apiAfter),
        worker: cpuBetween(workerBefore, workerAfter),
        client: ownCpuMs(ownBefore),
        ...usageSpent(cpuBefore, await serviceUsage(ctx.redisUrl), count),
      },
      workerRssPeakBytes: workerAfter.rssPeakBytes,
      apiPhases: apiAfter.phases,
      workerPhases: workerAfter.phases,
    };
  } finally {
    await cv.close();
  }

  const r = ratio(cvPerSec, rawPerSec);
  return {
    name: "throughput",
    rows: [
      {
        scenario: `throughput (${count.toLocaleString("en-US")} no-op)`,
        unit: "tasks/s",
        conveyor: cvPerSec,
        raw: rawPerSec,
        ratio: r,
        target: ">= 0.5x raw (aim 0.8x)",
        met: r === null ? null : r >= 0.5,
        note: r === null || r < 0.5 ? undefined : r >= 0.8 ? "aim 0.8x met" : "aim 0.8x not met",
      },
    ],
    figures: {
      count,
      batch: BATCH,
      submitters: SUBMITTERS,
      workerConcurrency: concurrency,
      raw: rawFigures,
      conveyor: cvFigures,
    },
  };
}
