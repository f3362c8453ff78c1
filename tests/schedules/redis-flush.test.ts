import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLogger, type LocalRedis } from "@conveyor/core";
import type { ScheduleRow } from "@conveyor/db";
import { type Reconciler, ScheduleClock } from "@conveyor/scheduler";
import { createTestStack, eventually, startPrivateRedis, type TestStack } from "../harness/index.ts";
import { createSchedule, expectJson, runsOf, type Schedule } from "./support.ts";

describe("Redis forgets every job scheduler: the reconciler puts them back from PostgreSQL", () => {
  let stack: TestStack;
  let reconciler: Reconciler;
  let privateRedis: LocalRedis;
  let clock: ScheduleClock;

  beforeAll(async () => {
    // A redis-server of this suite's own, so it can FLUSHALL for real without touching others.
    privateRedis = await startPrivateRedis("schedules-flush");
    stack = await createTestStack({ label: "schedules-flush", redisUrl: privateRedis.url });
    await stack.startNode({ types: ["echo"] });
    await stack.startTicker();
    reconciler = stack.reconciler();
    clock = new ScheduleClock(stack.runtime.redis, stack.prefix, createLogger("test", "silent"));
  });
  afterAll(async () => {
    await clock?.close();
    await stack?.close();
    await privateRedis?.stop();
  });

  const tickTimes = async (id: string) =>
    (await runsOf(stack, id)).flatMap((r) => (r.scheduledFor ? [r.scheduledFor.getTime()] : []));

  test("after FLUSHALL nothing ticks; one reconciler run re-creates the schedulers (in phase) and removes an orphan", async () => {
    const task = { type: "echo", payload: {} };
    const interval = await createSchedule(stack, { name: "every second", everyMs: 1000, task });
    const cron = await createSchedule(stack, { name: "every 2 s", cron: "*/2 * * * * *", task });
    const paused = await createSchedule(stack, { name: "paused", everyMs: 1000, paused: true, task });
    await eventually(async () => (await tickTimes(interval.id)).length >= 2 && (await tickTimes(cron.id)).length >= 1, {
      what: "both schedules to run",
    });
    expect((await clock.listed()).map((j) => j.key).sort()).toEqual([interval.id, cron.id].sort());

    expect(await stack.runtime.redis.flushall()).toBe("OK");
    expect(await clock.listed()).toEqual([]);
    await Bun.sleep(300);
    const before = { interval: await tickTimes(interval.id), cron: await tickTimes(cron.id) };
    await Bun.sleep(2_300);
    // Redis forgot them: no tick comes.
    expect(await tickTimes(interval.id)).toEqual(before.interval);
    expect(await tickTimes(cron.id)).toEqual(before.cron);

    // A job scheduler whose schedule PostgreSQL does not have (deleted while Redis was away).
    const orphan = crypto.randomUUID();
    await clock.apply(orphanRow(orphan));
    expect((await clock.listed()).map((j) => j.key)).toEqual([orphan]);

    const report = await reconciler.runOnce();
    expect(report).toMatchObject({ leader: true, schedulesRestored: 2, schedulesRemoved: 1, errors: [] });
    const listed = await clock.listed();
    expect(listed.map((j) => j.key).sort()).toEqual([interval.id, cron.id].sort());
    expect(listed.find((j) => j.key === paused.id)).toBeUndefined();
    // Run again: Redis matches PostgreSQL, nothing to do.
    expect(await reconciler.runOnce()).toMatchObject({ schedulesRestored: 0, schedulesRemoved: 0, errors: [] });

    const restoredAt = Date.now();
    await eventually(
      async () =>
        (await tickTimes(interval.id)).some((t) => t > restoredAt) &&
        (await tickTimes(cron.id)).some((t) => t > restoredAt),
      { what: "ticks to resume", timeoutMs: 10_000 },
    );
    const created = Date.parse(interval.createdAt);
    const ticks = await tickTimes(interval.id);
    // The interval kept its phase (created + k s) and no tick was made twice.
    for (const t of ticks) expect((t - created) % 1000).toBe(0);
    expect(new Set(ticks).size).toBe(ticks.length);
    for (const t of await tickTimes(cron.id)) expect(t % 2000).toBe(0);
    expect(await tickTimes(paused.id)).toEqual([]);
    const s = await expectJson<Schedule>(await stack.request("GET", `/v1/schedules/${interval.id}`), 200);
    expect(Date.parse(s.lastRunAt as string)).toBeGreaterThan(restoredAt - 1000);
  });
});

/** A schedule row that exists only here, never in PostgreSQL. */
function orphanRow(id: string): ScheduleRow {
  const now = new Date();
  return {
    id,
    tenant: "default",
    name: "orphan",
    cron: null,
    everyMs: 60_000,
    timezone: "UTC",
    task: { type: "echo", payload: {} },
    paused: false,
    anchorAt: now,
    lastRunAt: null,
    lastTaskId: null,
    createdAt: now,
    updatedAt: now,
  };
}
