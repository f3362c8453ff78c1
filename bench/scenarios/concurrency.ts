import { type BenchContext, cpuBetween, MB, RAW_JOB_OPTIONS, round } from "../context.ts";
import { inParallel } from "../load.ts";
import { quietSleep } from "../quiet-sleep.ts";
import { ratio, type ScenarioResult } from "../report.ts";
import { serviceUsage, usageSpent } from "../service-usage.ts";
import { ConveyorSetup, RawSetup } from "../setups.ts";

const SLEEP_MS = 2000;
const BATCH = 1000;
const SUBMITTERS = 4;
const RSS_LIMIT_MB = 400;

/**
 * Many `sleep` tasks in flight at once on one worker node. The queue is paused while the
 * tasks are submitted, so the wall time runs from `resume` to the last completion and
 * measures the node alone. Raw BullMQ gets the same count with concurrency split over 1, 4
 * and 10 Worker instances (one process), and its best split is the one compared.
 */
export async function concurrency(ctx: BenchContext): Promise<ScenarioResult> {
  const count = ctx.quick ? 2_000 : 10_000;
  const splits = [1, 4, 10].filter((k) => count % k === 0);
  const timeoutMs = 120_000 + count * 10;
  const batches = Array.from({ length: Math.ceil(count / BATCH) }, (_, b) =>
    Array.from({ length: Math.min(BATCH, count - b * BATCH) }, (_, i) => b * BATCH + i),
  );

  const rawRuns: Record<string, unknown>[] = [];
  for (const workers of splits) {
    const perWorker = count / workers;
    ctx.log(`concurrency: raw BullMQ, ${count} sleeps of ${SLEEP_MS} ms, ${workers} Worker(s) x ${perWorker}`);
    const raw = new RawSetup(`concurrency-${workers}`, ctx.redisUrl);
    try {
      await raw.queue.pause();
      await inParallel(batches, SUBMITTERS, async (ids) => {
        await raw.queue.addBulk(ids.map((i) => ({ name: "sleep", data: { i }, opts: RAW_JOB_OPTIONS })));
      });
      const worker = await raw.startWorker({
        workers,
        concurrency: perWorker,
        sleepMs: SLEEP_MS,
        recordLatency: false,
      });
      const before = await worker.stats();
      const cpuBefore = await serviceUsage(ctx.redisUrl);
      const t0 = Date.now();
      await raw.queue.resume();
      const done = await raw.waitCompleted(count, timeoutMs);
      const wallSeconds = ((done.lastCompletedAt ?? Date.now()) - t0) / 1000;
      rawRuns.push({
        workers,
        concurrencyPerWorker: perWorker,
        wallSeconds: round(wallSeconds, 3),
        rssPeakMB: round(done.rssPeakBytes / MB, 1),
        activePeak: done.activePeak,
        cost: { worker: cpuBetween(before, done), ...usageSpent(cpuBefore, await serviceUsage(ctx.redisUrl), count) },
      });
    } finally {
      await raw.close();
    }
  }
  const best = rawRuns.reduce((a, b) => ((b.wallSeconds as number) < (a.wallSeconds as number) ? b : a));

  ctx.log(`concurrency: Conveyor, ${count} sleeps of ${SLEEP_MS} ms on one node with concurrency ${count}`);
  const mine = await conveyorRun(ctx, "sleep", count, batches);
  ctx.log(`concurrency: Conveyor again, a sleep that reports no progress (diagnostic)`);
  const quiet = await conveyorRun(ctx, quietSleep.type, count, batches).catch((err) => ({
    error: (err as Error).message,
  }));
  const wallSeconds = mine.wallSeconds as number;
  const rssMB = mine.rssPeakMB as number;

  const rawWall = best.wallSeconds as number;
  const rawRss = best.rssPeakMB as number;
  const r = ratio(wallSeconds, rawWall);
  const n = count.toLocaleString("en-US");
  return {
    name: "concurrency",
    rows: [
      {
        scenario: `concurrency wall (${n} x ${SLEEP_MS / 1000} s sleep)`,
        unit: "s",
        conveyor: wallSeconds,
        raw: rawWall,
        ratio: r,
        target: "<= 1.3x raw",
        met: r === null ? null : r <= 1.3,
        note:
          `raw best of ${splits.map((k) => `${k}x${count / k}`).join(", ")}: ${best.workers} Worker(s); ` +
          `Conveyor with a sleep that reports no progress: ${"wallSeconds" in quiet ? `${quiet.wallSeconds} s` : "failed"}`,
      },
      {
        scenario: "concurrency worker peak RSS",
        unit: "MB",
        conveyor: rssMB,
        raw: rawRss,
        ratio: ratio(rssMB, rawRss),
        target: `< ${RSS_LIMIT_MB} MB`,
        met: rssMB < RSS_LIMIT_MB,
      },
    ],
    figures: {
      count,
      sleepMs: SLEEP_MS,
      raw: { best: best.workers, runs: rawRuns },
      conveyor: mine,
      conveyorWithoutProgress: quiet,
    },
  };
}

/** One Conveyor run: pause, submit `count` tasks of `type`, resume, wait for the last to finish. */
async function conveyorRun(
  ctx: BenchContext,
  type: string,
  count: number,
  batches: number[][],
): Promise<Record<string, unknown>> {
  const cv = await ConveyorSetup.open("concurrency", ctx.redisUrl);
  try {
    const api = await cv.startApi({ benchTypes: true });
    const worker = await cv.startWorker({
      types: [type],
      concurrency: { [type]: { min: count, max: count } },
      benchTypes: true,
    });
    await cv.call("POST", `/v1/queues/${type}/pause`, undefined, 200);
    const submitStarted = performance.now();
    const bodies = batches.map((ids) =>
      JSON.stringify({ tasks: ids.map(() => ({ type, payload: { ms: SLEEP_MS } })) }),
    );
    await inParallel(bodies, SUBMITTERS, (body) => cv.call("POST", "/v1/tasks/batch", body, 202));
    const submitMs = Math.round(performance.now() - submitStarted);
    const [apiBefore, before] = await Promise.all([api.stats(), worker.stats()]);
    const usageBefore = await serviceUsage(ctx.redisUrl);
    const t0 = await cv.ledger.now();
    await cv.call("POST", `/v1/queues/${type}/resume`, undefined, 200);
    const done = await cv.ledger.waitFinished(count, 120_000 + count * 10);
    const [apiAfter, after] = await Promise.all([api.stats(), worker.stats()]);
    return {
      type,
      wallSeconds: round(((done.lastFinishedAt ?? t0) - t0) / 1000, 3),
      allStartedSeconds: done.lastStartedAt === null ? null : round((done.lastStartedAt - t0) / 1000, 3),
      rssPeakMB: round(after.rssPeakBytes / MB, 1),
      activePeak: after.activePeak,
      submitMs,
      completed: done.completed,
      failed: done.finished - done.completed,
      cost: {
        worker: cpuBetween(before, after),
        api: cpuBetween(apiBefore, apiAfter),
        ...usageSpent(usageBefore, await serviceUsage(ctx.redisUrl), count),
      },
      workerPhases: after.phases,
    };
  } finally {
    await cv.close();
  }
}
