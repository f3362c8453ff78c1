import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { EVENTS_QUEUE, type TaskEvent } from "@conveyor/core";
import { QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";

describe("task events on the shared stream", () => {
  let stack: TestStack;
  let queueEvents: QueueEvents;
  let reader: Redis;
  const seen: { streamId: string; event: TaskEvent }[] = [];

  beforeAll(async () => {
    stack = await createTestStack({ label: "events" });
    reader = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    queueEvents = new QueueEvents(EVENTS_QUEUE, { connection: reader, prefix: stack.prefix, lastEventId: "0" });
    // Custom events arrive under their own name; QueueEvents' typed listeners do not know it.
    const onTask = (args: { data: string }, id: string) => {
      seen.push({ streamId: id, event: JSON.parse(args.data) as TaskEvent });
    };
    (queueEvents as unknown as { on(name: string, fn: typeof onTask): void }).on("task", onTask);
    await queueEvents.waitUntilReady();
    await stack.startNode({ types: ["echo", "sleep"] });
  });
  afterAll(async () => {
    await queueEvents?.close();
    reader?.disconnect();
    await stack?.close();
  });

  test("QueueEvents reads queued, running and completed for a task, in order, with the contract's fields", async () => {
    const res = await stack.request("POST", "/v1/tasks", { type: "echo", payload: { hi: 1 } });
    const { id } = (await res.json()) as { id: string };
    const mine = await eventually(
      () => {
        const list = seen.filter((s) => s.event.id === id);
        return list.some((s) => s.event.status === "completed") ? list : undefined;
      },
      { what: "the completed event" },
    );
    expect(mine.map((s) => s.event.status)).toEqual(["queued", "running", "completed"]);
    const done = mine[2]?.event;
    expect(Object.keys(done ?? {}).sort()).toEqual([
      "at",
      "attempt",
      "id",
      "node",
      "progress",
      "status",
      "tenant",
      "type",
    ]);
    expect(done).toMatchObject({
      tenant: "default",
      type: "echo",
      progress: 100,
      attempt: 1,
      node: stack.nodes[0]?.id,
    });
    // Stream ids order the events, so a client can resume from the last one it saw.
    const ids = mine.map((s) => s.streamId);
    expect([...ids].sort()).toEqual(ids);
  });

  test("a batch publishes one queued event per task; progress shows up while running", async () => {
    const res = await stack.request("POST", "/v1/tasks/batch", {
      tasks: [
        { type: "sleep", payload: { ms: 600 } },
        ...Array.from({ length: 20 }, () => ({ type: "echo", payload: 0 })),
      ],
    });
    const { tasks } = (await res.json()) as { tasks: { id: string }[] };
    const sleepId = tasks[0]?.id ?? "";
    await eventually(() => seen.some((s) => s.event.id === sleepId && s.event.status === "completed"), {
      what: "the sleep to complete",
    });
    for (const t of tasks)
      expect(seen.filter((s) => s.event.id === t.id && s.event.status === "queued")).toHaveLength(1);
    const progress = seen
      .filter((s) => s.event.id === sleepId && s.event.status === "running")
      .map((s) => s.event.progress);
    expect(progress.some((p) => p !== null && p > 0 && p < 100)).toBe(true);
  });
});
