import { type BenchContext, cpuBetween, ownCpuMs, RAW_JOB_OPTIONS, round } from "../context.ts";
import { closedLoop, type LoadResult } from "../load.ts";
import { ratio, type ScenarioResult } from "../report.ts";
import { serviceUsage, usageSpent } from "../service-usage.ts";
import { BENCH_ADMIN_KEY, ConveyorSetup, RawSetup } from "../setups.ts";
import { distribution } from "../stats.ts";

const CLIENTS = 64;

function summary(load: LoadResult) {
  return {
    ok: load.ok,
    errors: load.errors,
    errorSamples: load.errorSamples,
    perSec: round(load.ok / (load.windowMs / 1000), 1),
    latencyMs: distribution(load.latenciesMs),
  };
}

/**
 * Single submissions from 64 concurrent callers: Conveyor's `POST /v1/tasks` over real HTTP
 * to the api in a process of its own (no worker runs: submission alone is measured), against
 * raw BullMQ's `queue.add` from 64 callers in this process.
 */
export async function submissions(ctx: BenchContext): Promise<ScenarioResult> {
  const durationMs = ctx.quick ? 3_000 : 10_000;
  const warmupMs = ctx.quick ? 500 : 1_000;

  ctx.log(`submissions: raw BullMQ queue.add, ${CLIENTS} callers, ${durationMs / 1000} s`);
  const raw = new RawSetup("submissions", ctx.redisUrl);
  let rawLoad: LoadResult;
  let rawCpu: Record<string, unknown>;
  try {
    await raw.queue.waitUntilReady();
    const cpuBefore = await serviceUsage(ctx.redisUrl);
    const ownBefore = process.cpuUsage();
    rawLoad = await closedLoop({
      clients: CLIENTS,
      warmupMs,
      durationMs,
      call: async (i) => {
        await raw.queue.add("echo", { i }, RAW_JOB_OPTIONS);
      },
    });
    rawCpu = { producer: ownCpuMs(ownBefore), ...usageSpent(cpuBefore, await serviceUsage(ctx.redisUrl), rawLoad.ok) };
  } finally {
    await raw.close();
  }

  ctx.log(`submissions: Conveyor POST /v1/tasks over HTTP, ${CLIENTS} clients, ${durationMs / 1000} s`);
  const cv = await ConveyorSetup.open("submissions", ctx.redisUrl);
  let cvLoad: LoadResult;
  let cvFigures: Record<string, unknown>;
  try {
    const api = await cv.startApi();
    const url = `http://127.0.0.1:${await api.port()}/v1/tasks`;
    const headers = { authorization: `Bearer ${BENCH_ADMIN_KEY}`, "content-type": "application/json" };
    const apiBefore = await api.stats();
    const cpuBefore = await serviceUsage(ctx.redisUrl);
    const ownBefore = process.cpuUsage();
    cvLoad = await closedLoop({
      clients: CLIENTS,
      warmupMs,
      durationMs,
      call: async (i) => {
        const res = await fetch(url, {
          method: "POST",
          headers,
          body: JSON.stringify({ type: "echo", payload: { i } }),
        });
        if (res.status !== 202) throw new Error(`status ${res.status}: ${(await res.text()).slice(0, 200)}`);
        await res.arrayBuffer();
      },
    });
    const apiAfter = await api.stats();
    cvFigures = {
      ...summary(cvLoad),
      cost: {
        api: cpuBetween(apiBefore, apiAfter),
        client: ownCpuMs(ownBefore),
        ...usageSpent(cpuBefore, await serviceUsage(ctx.redisUrl), cvLoad.ok),
      },
      apiPhases: apiAfter.phases,
    };
  } finally {
    await cv.close();
  }

  const mine = summary(cvLoad);
  const rw = summary(rawLoad);
  return {
    name: "submissions",
    rows: [
      {
        scenario: `single submissions (${CLIENTS} clients)`,
        unit: "req/s",
        conveyor: mine.perSec,
        raw: rw.perSec,
        ratio: ratio(mine.perSec, rw.perSec),
        target: ">= 3,000 req/s",
        met: mine.perSec >= 3000,
        note: mine.errors > 0 ? `${mine.errors} errors, e.g. ${mine.errorSamples[0]}` : undefined,
      },
      {
        scenario: "single submission p50",
        unit: "ms",
        conveyor: mine.latencyMs.p50,
        raw: rw.latencyMs.p50,
        ratio: ratio(mine.latencyMs.p50, rw.latencyMs.p50),
        target: "",
        met: null,
      },
      {
        scenario: "single submission p99",
        unit: "ms",
        conveyor: mine.latencyMs.p99,
        raw: rw.latencyMs.p99,
        ratio: ratio(mine.latencyMs.p99, rw.latencyMs.p99),
        target: "< 50 ms",
        met: mine.latencyMs.p99 < 50,
      },
    ],
    figures: {
      clients: CLIENTS,
      durationMs,
      warmupMs,
      api: "separate process (Bun.serve + createApp), HTTP over loopback",
      raw: { ...rw, cost: rawCpu },
      conveyor: cvFigures,
    },
  };
}
