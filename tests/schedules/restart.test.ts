import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { apiDepsFromRuntime, createApp } from "@conveyor/api";
import { createLogger } from "@conveyor/core";
import { createRuntime, Reconciler, type Runtime, ScheduleTicker } from "@conveyor/scheduler";
import { createTestStack, eventually, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { createSchedule, expectJson, runsOf, type Schedule } from "./support.ts";

const log = createLogger("test", "silent");

describe("a restart of the stack keeps the schedules", () => {
  let stack: TestStack;
  let second: Runtime | undefined;
  let ticker: ScheduleTicker | undefined;
  let reconciler: Reconciler | undefined;

  beforeAll(async () => {
    stack = await createTestStack({ label: "schedules-restart" });
  });
  afterAll(async () => {
    await reconciler?.stop();
    await ticker?.close();
    await second?.close();
    await stack?.close();
  });

  test("a new runtime over the same database lists the same schedules and its ticker carries on, in phase", async () => {
    const firstTicker = await stack.startTicker();
    const task = { type: "echo", payload: { from: "before" } };
    const interval = await createSchedule(stack, { name: "every second", everyMs: 1000, task });
    const paused = await createSchedule(stack, { name: "paused", everyMs: 1000, paused: true, task });
    const cron = await createSchedule(stack, {
      name: "weekday mornings in Tokyo",
      cron: "0 9 * * 1-5",
      timezone: "Asia/Tokyo",
      task,
    });
    await eventually(async () => (await runsOf(stack, interval.id)).length >= 2, {
      what: "two runs before the restart",
    });
    const before = await expectJson<{ schedules: Schedule[] }>(await stack.request("GET", "/v1/schedules"), 200);

    // The old process stops: nothing of it ticks any more.
    await firstTicker.close();
    await Bun.sleep(300);
    const runsBefore = (await runsOf(stack, interval.id)).length;

    second = createRuntime({
      databaseUrl: stack.db.url,
      redis: stack.redis,
      queuePrefix: stack.prefix,
      log,
      appName: "test-schedules-restart-2",
    });
    const app = createApp(apiDepsFromRuntime(second, { adminKey: TEST_ADMIN_KEY, log, maxBodyBytes: 1_048_576 }));
    const get = async (path: string) =>
      expectJson<{ schedules: Schedule[] }>(
        await app.request(path, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } }),
        200,
      );
    const after = await get("/v1/schedules");
    const stable = (s: Schedule) => ({ ...s, nextRunAt: null, lastRunAt: null, lastTaskId: null });
    expect(after.schedules.map(stable)).toEqual(before.schedules.map(stable));
    expect(after.schedules.map((s) => s.id)).toEqual([interval.id, paused.id, cron.id]);
    expect(after.schedules.find((s) => s.id === cron.id)?.nextRunAt).toBe(cron.nextRunAt);
    expect(after.schedules.find((s) => s.id === paused.id)).toMatchObject({ paused: true, nextRunAt: null });

    // Its reconciler finds Redis in line with PostgreSQL: nothing re-created, nothing doubled.
    reconciler = new Reconciler({
      pg: second.pg,
      redis: second.redis,
      dispatcher: second.dispatcher,
      events: second.events,
      log,
      intervalMs: 1000,
      retentionDays: 30,
      minAgeMs: 0,
    });
    expect(await reconciler.runOnce()).toMatchObject({ leader: true, schedulesRestored: 0, schedulesRemoved: 0 });

    ticker = new ScheduleTicker({ schedules: second.schedules, redis: stack.redis, queuePrefix: stack.prefix, log });
    await ticker.start();
    const restartedAt = Date.now();
    const runs = await eventually(
      async () => {
        const r = await runsOf(stack, interval.id);
        return r.filter((x) => (x.scheduledFor?.getTime() ?? 0) > restartedAt).length >= 2 ? r : undefined;
      },
      { what: "ticks after the restart" },
    );
    expect(runs.length).toBeGreaterThan(runsBefore);
    const created = Date.parse(interval.createdAt);
    const ticks = runs.map((r) => r.scheduledFor?.getTime() as number);
    for (const t of ticks) expect((t - created) % 1000).toBe(0);
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(await runsOf(stack, paused.id)).toEqual([]);
    const now = (await get(`/v1/schedules`)).schedules.find((s) => s.id === interval.id);
    expect(now?.lastTaskId).toBe(runs.at(-1)?.id as string);
  });
});
