import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BUILT_IN_TYPES, countdown, TaskCatalog } from "@conveyor/handlers";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";
import { attemptsOf, getTask, submit, waitStatus } from "./support.ts";

type Logs = { logs: { at: string; level: string; message: string; attempt: number }[] };

describe("a user's own task type: progress, logs, retries, signal (the docs/task-types.md example)", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack({ label: "logs", catalog: new TaskCatalog([...BUILT_IN_TYPES, countdown]) });
    await stack.startNode({ types: ["countdown"] });
  });
  afterAll(() => stack?.close());

  const logsOf = async (id: string) =>
    ((await (await stack.request("GET", `/v1/tasks/${id}/logs`)).json()) as Logs).logs;

  test("progress shows while it runs; its log lines are read back in order", async () => {
    const t = await submit(stack, { type: "countdown", payload: { from: 5, stepMs: 120 } });
    const midway = await eventually(
      async () => {
        const now = await getTask(stack, t.id);
        return now.status === "running" && (now.progress ?? 0) > 0 ? now.progress : undefined;
      },
      { what: "progress while running", intervalMs: 20 },
    );
    expect(midway).toBeLessThan(100);
    const done = await waitStatus(stack, t.id, "completed");
    expect(done).toMatchObject({ progress: 100, result: { counted: 5 } });
    const logs = await logsOf(t.id);
    expect(logs.map((l) => l.message)).toEqual([
      "attempt 1: counting down from 5",
      "5",
      "4",
      "3",
      "2",
      "1",
      "lift-off",
    ]);
    expect(logs.every((l) => l.attempt === 1 && l.level === "info")).toBe(true);
  });

  test("each attempt's lines carry its number; a failure marked final ends the retries", async () => {
    const t = await submit(stack, { type: "countdown", payload: { from: 3, stepMs: 0, failAt: 2 } });
    // failAt is retryable on the first attempt only: the second attempt fails for good.
    const failed = await waitStatus(stack, t.id, "failed");
    expect(failed.error?.code).toBe("reached_fail_at");
    expect((await attemptsOf(stack, t.id)).map((a) => a.outcome)).toEqual(["failed", "failed"]);
    const logs = await logsOf(t.id);
    expect(logs.filter((l) => l.attempt === 1).map((l) => l.message)).toEqual(["attempt 1: counting down from 3", "3"]);
    expect(logs.filter((l) => l.attempt === 2).map((l) => l.message)).toEqual(["attempt 2: counting down from 3", "3"]);
  });

  test("a cancel stops it between steps", async () => {
    const t = await submit(stack, { type: "countdown", payload: { from: 100, stepMs: 200 } });
    await waitStatus(stack, t.id, "running");
    expect((await stack.request("POST", `/v1/tasks/${t.id}/cancel`)).status).toBe(200);
    const attempt = await eventually(
      async () => {
        const [a] = await attemptsOf(stack, t.id);
        return a && a.outcome !== "running" ? a : undefined;
      },
      { what: "the attempt to close" },
    );
    expect(attempt.outcome).toBe("cancelled");
    expect((await logsOf(t.id)).length).toBeLessThan(20);
  });

  test("logs of an unknown task are 404", async () => {
    expect((await stack.request("GET", `/v1/tasks/${crypto.randomUUID()}/logs`)).status).toBe(404);
  });
});
