import { TaskCatalog } from "@conveyor/handlers";
import { type BenchContext, cpuBetween, RAW_JOB_OPTIONS, round } from "../context.ts";
import { openLoop } from "../load.ts";
import { ratio, type ScenarioResult } from "../report.ts";
import { serviceUsage, usageSpent } from "../service-usage.ts";
import { BENCH_ADMIN_KEY, ConveyorSetup, RawSetup } from "../setups.ts";
import { distribution } from "../stats.ts";

const RATE = 500;

/**
 * Submit-to-start at a steady 500 tasks/s (an open loop: the rate holds whatever the answers
 * take). Conveyor: the task's `createdAt` (taken by the api as it accepts the submission) to
 * its first attempt's `startedAt`, both from the ledger. Raw BullMQ: `job.timestamp` to the
 * processor's start. Tasks sent during the warm-up carry `warm: true` and are left out.
 */
export async function latency(ctx: BenchContext): Promise<ScenarioResult> {
  const durationMs = ctx.quick ? 3_000 : 10_000;
  const warmupMs = ctx.quick ? 500 : 1_000;
  const concurrency = new TaskCatalog().get("echo").defaults.concurrency.max;

  ctx.log(`latency: raw BullMQ, ${RATE}/s for ${durationMs / 1000} s`);
  const raw = new RawSetup("latency", ctx.redisUrl);
  let rawLatencies: number[];
  let rawFigures: Record<string, unknown>;
  try {
    const worker = await raw.startWorker({ workers: 1, concurrency, sleepMs: 0, recordLatency: true });
    const workerBefore = await worker.stats();
    const usageBefore = await serviceUsage(ctx.redisUrl);
    const load = await openLoop({
      ratePerSec: RATE,
      warmupMs,
      durationMs,
      call: async (i, warm) => {
        await raw.queue.add("echo", warm ? { i, warm } : { i }, RAW_JOB_OPTIONS);
      },
    });
    const done = await raw.waitCompleted(load.sent, 60_000);
    rawLatencies = done.latenciesMs ?? [];
    rawFigures = {
      sent: load.sent,
      measured: rawLatencies.length,
      addLatencyMs: distribution(load.latenciesMs),
      submitToStartMs: distribution(rawLatencies),
      cost: {
        worker: cpuBetween(workerBefore, done),
        ...usageSpent(usageBefore, await serviceUsage(ctx.redisUrl), load.sent),
      },
    };
  } finally {
    await raw.close();
  }

  ctx.log(`latency: Conveyor POST /v1/tasks, ${RATE}/s for ${durationMs / 1000} s`);
  const cv = await ConveyorSetup.open("latency", ctx.redisUrl);
  let cvLatencies: number[];
  let cvFigures: Record<string, unknown>;
  try {
    const api = await cv.startApi();
    const worker = await cv.startWorker({ types: ["echo"] });
    const url = `http://127.0.0.1:${await api.port()}/v1/tasks`;
    const headers = { authorization: `Bearer ${BENCH_ADMIN_KEY}`, "content-type": "application/json" };
    const [apiBefore, workerBefore] = await Promise.all([api.stats(), worker.stats()]);
    const usageBefore = await serviceUsage(ctx.redisUrl);
    const load = await openLoop({
      ratePerSec: RATE,
      warmupMs,
      durationMs,
      call: async (i, warm) => {
        const payload = warm ? { i, warm } : { i };
        const res = await fetch(url, { method: "POST", headers, body: JSON.stringify({ type: "echo", payload }) });
        if (res.status !== 202) throw new Error(`status ${res.status}: ${(await res.text()).slice(0, 200)}`);
        await res.arrayBuffer();
      },
    });
    await cv.ledger.waitFinished(load.sent - load.errors, 60_000);
    cvLatencies = await cv.ledger.submitToStartMs();
    const [apiStats, workerStats] = await Promise.all([api.stats(), worker.stats()]);
    cvFigures = {
      sent: load.sent,
      errors: load.errors,
      errorSamples: load.errorSamples,
      measured: cvLatencies.length,
      httpLatencyMs: distribution(load.latenciesMs),
      submitToStartMs: distribution(cvLatencies),
      cost: {
        api: cpuBetween(apiBefore, apiStats),
        worker: cpuBetween(workerBefore, workerStats),
        ...usageSpent(usageBefore, await serviceUsage(ctx.redisUrl), load.sent),
      },
      apiPhases: apiStats.phases,
      workerPhases: workerStats.phases,
    };
  } finally {
    await cv.close();
  }

  const mine = distribution(cvLatencies);
  const theirs = distribution(rawLatencies);
  return {
    name: "latency",
    rows: [
      {
        scenario: `submit-to-start p50 (${RATE}/s)`,
        unit: "ms",
        conveyor: mine.p50,
        raw: theirs.p50,
        ratio: ratio(mine.p50, theirs.p50),
        target: "< 5 ms",
        met: mine.p50 < 5,
      },
      {
        scenario: `submit-to-start p99 (${RATE}/s)`,
        unit: "ms",
        conveyor: mine.p99,
        raw: theirs.p99,
        ratio: ratio(mine.p99, theirs.p99),
        target: "< 50 ms",
        met: mine.p99 < 50,
      },
    ],
    figures: {
      ratePerSec: RATE,
      durationMs,
      warmupMs,
      workerConcurrency: concurrency,
      clock: "ms resolution on both sides (createdAt and job.timestamp are JS Dates)",
      raw: rawFigures,
      conveyor: {
        ...cvFigures,
        achievedRatePerSec: round(((cvFigures.sent as number) * 1000) / (durationMs + warmupMs), 1),
      },
    },
  };
}
