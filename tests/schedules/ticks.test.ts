import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";
import { createSchedule, expectJson, runsOf, type Schedule } from "./support.ts";

describe("schedules tick: one task per tick however many nodes run", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await createTestStack({ label: "schedules-ticks" });
    await stack.startNode({ types: ["echo"] });
    // Two worker processes' tickers, each with its own connections.
    await stack.startTicker();
    await stack.startTicker();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const waitForRuns = (id: string, n: number, timeoutMs = 15_000) =>
    eventually(
      async () => {
        const runs = await runsOf(stack, id);
        return runs.length >= n ? runs : undefined;
      },
      { timeoutMs, what: `${n} runs of schedule ${id}` },
    );

  test("everyMs 1000 with two tickers: one task per tick, the first one interval after creation", async () => {
    const s = await createSchedule(stack, {
      name: "every second",
      everyMs: 1000,
      task: { type: "echo", payload: { k: 1 } },
    });
    const created = Date.parse(s.createdAt);
    await waitForRuns(s.id, 4);
    const paused = await expectJson<Schedule>(await stack.request("POST", `/v1/schedules/${s.id}/pause`), 200);
    const pausedAt = Date.now();
    // A tick handled while the pause landed may still finish: wait until the count settles.
    await Bun.sleep(300);
    const runs = await runsOf(stack, s.id);
    const ticks = runs.map((r) => (r.scheduledFor as Date).getTime());
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    // The first tick is one interval after creation, every later one on the same phase.
    expect(ticks[0]).toBe(created + 1000);
    for (const t of ticks) expect((t - created) % 1000).toBe(0);
    // No tick made two tasks, and there are no more tasks than ticks that came before the pause.
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(ticks.length).toBeLessThanOrEqual(Math.floor((pausedAt - created) / 1000) + 1);
    const [count] = await stack.runtime.pg.sql<{ n: number }[]>`
      select count(*)::int as n from tasks where schedule_id = ${s.id}::uuid`;
    expect(count?.n).toBe(ticks.length);
    // Each run is an ordinary task that a worker node completes.
    await eventually(async () => (await runsOf(stack, s.id)).every((r) => r.status === "completed") || undefined, {
      what: "every run to complete",
    });
    const last = runs.at(-1);
    expect(paused).toMatchObject({ paused: true, nextRunAt: null });
    const now = await expectJson<Schedule>(await stack.request("GET", `/v1/schedules/${s.id}`), 200);
    expect(now.lastTaskId).toBe(last?.id as string);
    expect(now.lastRunAt).toBe(new Date(ticks.at(-1) as number).toISOString());
  });

  test("the same tick handled by two nodes at once makes one task; handled again later, none", async () => {
    const s = await createSchedule(stack, {
      name: "hand-ticked",
      everyMs: 3_600_000,
      task: { type: "echo", payload: {} },
    });
    const at = new Date(Date.parse(s.createdAt) + 3_600_000);
    const made = await Promise.all(Array.from({ length: 8 }, () => stack.runtime.schedules.tick(s.id, at)));
    expect(made.filter((t) => t !== null).length).toBe(1);
    expect(await stack.runtime.schedules.tick(s.id, at)).toBeNull();
    const runs = await runsOf(stack, s.id);
    expect(runs.map((r) => r.scheduledFor?.getTime())).toEqual([at.getTime()]);
    const after = await expectJson<Schedule>(await stack.request("GET", `/v1/schedules/${s.id}`), 200);
    expect(after).toMatchObject({ lastTaskId: runs[0]?.id, lastRunAt: at.toISOString() });
  });

  test("a 6-field cron with seconds ticks on those seconds; deleted, it ticks no more", async () => {
    const s = await createSchedule(stack, {
      name: "even seconds",
      cron: "*/2 * * * * *",
      task: { type: "echo", payload: {} },
    });
    const runs = await waitForRuns(s.id, 3, 20_000);
    const ticks = runs.map((r) => (r.scheduledFor as Date).getTime());
    for (const t of ticks) {
      expect(t % 2000).toBe(0);
      expect(t).toBeGreaterThan(Date.parse(s.createdAt));
    }
    // Two seconds apart (BullMQ skips a tick only when the ticker fell a whole tick behind).
    for (let i = 1; i < ticks.length; i++) {
      const gap = (ticks[i] as number) - (ticks[i - 1] as number);
      expect(gap > 0 && gap % 2000 === 0).toBe(true);
    }
    expect((await stack.request("DELETE", `/v1/schedules/${s.id}`)).status).toBe(204);
    await Bun.sleep(300);
    const settled = (await runsOf(stack, s.id)).length;
    await Bun.sleep(2_500);
    expect((await runsOf(stack, s.id)).length).toBe(settled);
  });

  test("paused, it makes no task; resumed, it ticks again in its phase; a trigger moves no tick", async () => {
    const s = await createSchedule(stack, { name: "pause me", everyMs: 1000, task: { type: "echo", payload: {} } });
    const created = Date.parse(s.createdAt);
    await waitForRuns(s.id, 1);
    await stack.request("POST", `/v1/schedules/${s.id}/pause`);
    await Bun.sleep(300);
    const before = (await runsOf(stack, s.id)).length;
    await Bun.sleep(2_200);
    expect((await runsOf(stack, s.id)).length).toBe(before);
    const resumedAt = Date.now();
    await stack.request("POST", `/v1/schedules/${s.id}/resume`);
    const triggered = await expectJson<{ id: string }>(
      await stack.request("POST", `/v1/schedules/${s.id}/trigger`),
      202,
    );
    const runs = await waitForRuns(s.id, before + 3);
    const ticked = runs.filter((r) => r.scheduledFor !== null).map((r) => (r.scheduledFor as Date).getTime());
    const afterResume = ticked.filter((t) => t > resumedAt);
    expect(afterResume.length).toBeGreaterThanOrEqual(1);
    for (const t of afterResume) expect((t - created) % 1000).toBe(0);
    // No tick fell in the pause: the ticks jump from before it to after the resume.
    expect(ticked.filter((t) => t > resumedAt - 2_000 && t < resumedAt - 300)).toEqual([]);
    expect(runs.find((r) => r.scheduledFor === null)?.id).toBe(triggered.id);
  });
});
