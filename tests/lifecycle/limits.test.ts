import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { LocalRedis } from "@conveyor/core";
import { createTestStack, startPrivateRedis, type TestStack } from "../harness/index.ts";
import { attemptsOf, type Task, waitStatus } from "./support.ts";

/** The most attempts that ran at the same moment. */
function maxOverlap(spans: { start: number; end: number }[]): number {
  const edges = spans.flatMap((s) => [
    { at: s.start, d: 1 },
    { at: s.end, d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const e of edges) {
    now += e.d;
    max = Math.max(max, now);
  }
  return max;
}

describe("cluster-wide limits, changed while the system runs, on two nodes", () => {
  let stack: TestStack;
  let privateRedis: LocalRedis;

  beforeAll(async () => {
    // Its own redis-server: the last test flushes it.
    privateRedis = await startPrivateRedis("limits");
    stack = await createTestStack({ label: "limits", redisUrl: privateRedis.url });
    const local = { sleep: { min: 1, max: 10 }, echo: { min: 1, max: 10 } };
    await stack.startNode({ types: ["sleep", "echo"], concurrency: local });
    await stack.startNode({ types: ["sleep", "echo"], concurrency: local });
  });
  afterAll(async () => {
    await stack?.close();
    await privateRedis?.stop();
  });

  const batch = async (tasks: unknown[]) =>
    ((await (await stack.request("POST", "/v1/tasks/batch", { tasks })).json()) as { tasks: Task[] }).tasks;

  async function spans(tasks: Task[]) {
    await Promise.all(tasks.map((t) => waitStatus(stack, t.id, "completed", 30_000)));
    const attempts = await Promise.all(tasks.map(async (t) => (await attemptsOf(stack, t.id))[0]));
    return attempts.map((a) => ({
      start: new Date(a?.startedAt ?? 0).getTime(),
      end: new Date(a?.finishedAt ?? 0).getTime(),
    }));
  }

  test("a concurrency limit holds across both nodes, and lifting it lets them run wide", async () => {
    const res = await stack.request("PATCH", "/v1/queues/sleep", { concurrency: 3 });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: "sleep", concurrency: 3, rateLimit: null });
    const limited = await batch(Array.from({ length: 12 }, () => ({ type: "sleep", payload: { ms: 250 } })));
    const ran = await spans(limited);
    expect(maxOverlap(ran)).toBeLessThanOrEqual(3);
    const nodes = new Set(
      (await Promise.all(limited.map(async (t) => (await attemptsOf(stack, t.id))[0]?.node))).filter(Boolean),
    );
    expect(nodes.size).toBe(2);

    await stack.request("PATCH", "/v1/queues/sleep", { concurrency: null });
    const free = await batch(Array.from({ length: 12 }, () => ({ type: "sleep", payload: { ms: 400 } })));
    expect(maxOverlap(await spans(free))).toBeGreaterThan(3);
  });

  test("a rate limit spaces starts across both nodes", async () => {
    const res = await stack.request("PATCH", "/v1/queues/echo", { rateLimit: { max: 4, durationMs: 500 } });
    expect(await res.json()).toMatchObject({ rateLimit: { max: 4, durationMs: 500 }, concurrency: null });
    const ran = await spans(await batch(Array.from({ length: 12 }, (_, i) => ({ type: "echo", payload: i }))));
    const starts = ran.map((s) => s.start).sort((a, b) => a - b);
    // No more than 4 starts in any 500 ms: the 5th after a start comes at least ~500 ms later.
    for (let i = 0; i + 4 < starts.length; i++) {
      expect((starts[i + 4] ?? 0) - (starts[i] ?? 0)).toBeGreaterThanOrEqual(450);
    }
    const queues = (await (await stack.request("GET", "/v1/queues")).json()) as {
      queues: { type: string; rateLimit: unknown }[];
    };
    expect(queues.queues.find((q) => q.type === "echo")?.rateLimit).toEqual({ max: 4, durationMs: 500 });
  });

  test("limits lost with Redis come back from PostgreSQL", async () => {
    await stack.request("PATCH", "/v1/queues/sleep", { concurrency: 2 });
    const sleep = stack.runtime.dispatcher.queue("sleep");
    const echo = stack.runtime.dispatcher.queue("echo");
    expect(await sleep.getGlobalConcurrency()).toBe(2);
    expect(await stack.runtime.redis.flushall()).toBe("OK");
    expect(await sleep.getGlobalConcurrency()).toBeNull();

    const report = await stack.reconciler().runOnce();
    expect(report.errors).toEqual([]);
    expect(await sleep.getGlobalConcurrency()).toBe(2);
    expect(await echo.getGlobalRateLimit()).toMatchObject({ max: 4, duration: 500 });
    const ran = await spans(await batch(Array.from({ length: 8 }, () => ({ type: "sleep", payload: { ms: 200 } }))));
    expect(maxOverlap(ran)).toBeLessThanOrEqual(2);
  });

  test("bad limits are 400; an unknown queue is 404", async () => {
    for (const body of [{}, { concurrency: 0 }, { rateLimit: { max: 1 } }, { concurrency: "many" }, { extra: 1 }]) {
      expect((await stack.request("PATCH", "/v1/queues/sleep", body)).status).toBe(400);
    }
    expect((await stack.request("PATCH", "/v1/queues/nope", { concurrency: 1 })).status).toBe(404);
  });
});
