import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";
import { attemptsOf, flakiness, getTask, submit, type Task, testCatalog, waitStatus } from "./support.ts";

describe("task lifecycle", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await createTestStack({ label: "life", catalog: testCatalog() });
  });
  afterAll(() => stack?.close());

  test("a paused queue holds its tasks; on resume higher priorities start first, equal ones in order", async () => {
    expect((await stack.request("POST", "/v1/queues/echo/pause")).status).toBe(200);
    const node = await stack.startNode({ types: ["echo"], concurrency: { echo: { min: 1, max: 1 } } });
    const order = ["low", "normal", "high", "critical", "normal", "high"] as const;
    const submitted: Task[] = [];
    for (const [i, priority] of order.entries())
      submitted.push(await submit(stack, { type: "echo", payload: i, priority }));

    const queues = (await (await stack.request("GET", "/v1/queues")).json()) as {
      queues: { type: string; waiting: number; paused: boolean }[];
    };
    const echo = queues.queues.find((q) => q.type === "echo");
    expect(echo).toMatchObject({ waiting: 6, paused: true });
    await Bun.sleep(300);
    for (const t of submitted) expect((await getTask(stack, t.id)).status).toBe("queued");

    expect((await stack.request("POST", "/v1/queues/echo/resume")).status).toBe(200);
    const done = await Promise.all(submitted.map((t) => waitStatus(stack, t.id, "completed")));
    const started = await Promise.all(done.map(async (t) => (await attemptsOf(stack, t.id))[0]?.startedAt ?? ""));
    const startOrder = submitted
      .map((t, i) => ({ i, at: started[i] ?? "" }))
      .sort((a, b) => a.at.localeCompare(b.at))
      .map((x) => x.i);
    // critical (3), high (2 then 5), normal (1 then 4), low (0)
    expect(startOrder).toEqual([3, 2, 5, 1, 4, 0]);
    await node.close();
    stack.nodes.splice(stack.nodes.indexOf(node), 1);
  });

  test("delayMs keeps a task delayed until due, then it runs", async () => {
    await stack.startNode({ types: ["echo", "sleep", "flaky"] });
    const t = await submit(stack, { type: "echo", payload: "later", delayMs: 600 });
    expect(t.status).toBe("delayed");
    expect(t.runAt).not.toBeNull();
    await Bun.sleep(200);
    expect((await getTask(stack, t.id)).status).toBe("delayed");
    const done = await waitStatus(stack, t.id, "completed");
    const [attempt] = await attemptsOf(stack, t.id);
    expect(new Date(attempt?.startedAt ?? 0).getTime()).toBeGreaterThanOrEqual(new Date(t.runAt ?? 0).getTime() - 5);
    expect(done.result).toBe("later");
  });

  test("a timeout aborts a sleeping handler: the attempt ends timed_out and the task fails", async () => {
    const t = await submit(stack, { type: "sleep", payload: { ms: 60_000 }, timeoutMs: 300, maxAttempts: 1 });
    const failed = await waitStatus(stack, t.id, "failed");
    expect(failed.error?.code).toBe("timed_out");
    const attempts = await attemptsOf(stack, t.id);
    expect(attempts.map((a) => a.outcome)).toEqual(["timed_out"]);
    expect(attempts[0]?.durationMs ?? Number.POSITIVE_INFINITY).toBeLessThan(10_000);
  });

  test("retries wait out an exponential backoff, delayed with the last error, then fail", async () => {
    flakiness.failing = true;
    const t = await submit(stack, {
      type: "flaky",
      payload: {},
      maxAttempts: 3,
      backoff: { strategy: "exponential", delayMs: 250 },
    });
    const waiting = await waitStatus(stack, t.id, "delayed");
    expect(waiting.error?.code).toBe("handler_error");
    const failed = await waitStatus(stack, t.id, "failed");
    expect(failed.error).toEqual({ code: "handler_error", message: "flaky failure" });
    const attempts = await attemptsOf(stack, t.id);
    expect(attempts.map((a) => a.outcome)).toEqual(["failed", "failed", "failed"]);
    const gap = (i: number) =>
      new Date(attempts[i + 1]?.startedAt ?? 0).getTime() - new Date(attempts[i]?.finishedAt ?? 0).getTime();
    // 250 ms before the second attempt, 500 ms before the third (a few ms of clock rounding allowed)
    expect(gap(0)).toBeGreaterThanOrEqual(240);
    expect(gap(1)).toBeGreaterThanOrEqual(490);
  });

  test("a failure the handler marks permanent, and an invalid payload, are not retried", async () => {
    const t = await submit(stack, { type: "flaky", payload: { permanent: true }, maxAttempts: 5 });
    const failed = await waitStatus(stack, t.id, "failed");
    expect(failed.error?.code).toBe("broken_for_good");
    expect((await attemptsOf(stack, t.id)).length).toBe(1);
  });

  test("retry queues a failed task again; its attempts stay in the history", async () => {
    flakiness.failing = true;
    const t = await submit(stack, { type: "flaky", payload: {} });
    await waitStatus(stack, t.id, "failed");
    // Healed before the retry: the worker may take the task before the answer arrives.
    flakiness.failing = false;
    expect((await stack.request("POST", `/v1/tasks/${t.id}/retry`)).status).toBe(202);
    const done = await waitStatus(stack, t.id, "completed");
    expect(done.error).toBeNull();
    expect((await attemptsOf(stack, t.id)).map((a) => a.outcome)).toEqual(["failed", "completed"]);
    // A completed task cannot be retried.
    const again = await stack.request("POST", `/v1/tasks/${t.id}/retry`);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("conflict");
  });

  test("POST /v1/tasks/retry queues every matching failed task", async () => {
    flakiness.failing = true;
    const since = new Date().toISOString();
    const ts = await Promise.all([1, 2, 3].map(() => submit(stack, { type: "flaky", payload: {} })));
    await Promise.all(ts.map((t) => waitStatus(stack, t.id, "failed")));
    flakiness.failing = false;
    const res = await stack.request("POST", "/v1/tasks/retry", { type: "flaky", message: "flaky failure", since });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { retried: number }).retried).toBe(3);
    await Promise.all(ts.map((t) => waitStatus(stack, t.id, "completed")));
  });

  test("cancel: a delayed task never runs; cancelling again is 200; a completed task is 409", async () => {
    const t = await submit(stack, { type: "echo", payload: 1, delayMs: 500 });
    const res = await stack.request("POST", `/v1/tasks/${t.id}/cancel`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Task).status).toBe("cancelled");
    expect((await stack.request("POST", `/v1/tasks/${t.id}/cancel`)).status).toBe(200);
    await Bun.sleep(900);
    expect((await getTask(stack, t.id)).status).toBe("cancelled");
    expect(await attemptsOf(stack, t.id)).toEqual([]);

    const done = await submit(stack, { type: "echo", payload: 2 });
    await waitStatus(stack, done.id, "completed");
    const late = await stack.request("POST", `/v1/tasks/${done.id}/cancel`);
    expect(late.status).toBe(409);
  });

  test("GET /v1/tasks/:id?waitMs holds the answer until the task is final", async () => {
    const t = await submit(stack, { type: "sleep", payload: { ms: 400 } });
    const res = await stack.request("GET", `/v1/tasks/${t.id}?waitMs=10000`);
    expect(((await res.json()) as Task).status).toBe("completed");
    const bad = await stack.request("GET", `/v1/tasks/${t.id}?waitMs=30001`);
    expect(bad.status).toBe(400);
  });
});

describe("cancelling a task running on another node", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack({ label: "cancel" });
  });
  afterAll(() => stack?.close());

  test("the node running it aborts within a second; the attempt closes as cancelled", async () => {
    const a = await stack.startNode({ types: ["sleep"] });
    const b = await stack.startNode({ types: ["sleep"] });
    const t = await submit(stack, { type: "sleep", payload: { ms: 30_000 } });
    const running = await waitStatus(stack, t.id, "running");
    expect([a.id, b.id]).toContain(running.node ?? "");

    const asked = Date.now();
    const res = await stack.request("POST", `/v1/tasks/${t.id}/cancel`);
    expect(res.status).toBe(200);
    const attempt = await eventually(
      async () => {
        const [first] = await attemptsOf(stack, t.id);
        return first && first.outcome !== "running" ? first : undefined;
      },
      { timeoutMs: 5000, what: "the attempt to close" },
    );
    expect(attempt.outcome).toBe("cancelled");
    expect(new Date(attempt.finishedAt ?? 0).getTime() - asked).toBeLessThan(1000);
    const task = await getTask(stack, t.id);
    expect(task.status).toBe("cancelled");
    expect(task.error?.code).toBe("cancelled");
    expect(a.activeCount + b.activeCount).toBe(0);
  });
});
