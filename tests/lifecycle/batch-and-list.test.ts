import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, type TestStack } from "../harness/index.ts";
import { type Task, waitStatus } from "./support.ts";

type ErrorBody = { error: { code: string; message: string; details: { path: (string | number)[]; code: string }[] } };

describe("batches", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack({ label: "batch" });
  });
  afterAll(() => stack?.close());

  const countRows = async () =>
    (await stack.runtime.pg.sql<{ n: number }[]>`select count(*)::int as n from tasks`)[0]?.n;

  test("one bad item refuses the whole batch, with a detail per bad item", async () => {
    const res = await stack.request("POST", "/v1/tasks/batch", {
      tasks: [
        { type: "echo", payload: 1 },
        { type: "sleep", payload: { ms: "x" } },
        { type: "echo", payload: 3 },
        { type: "no_such_type", payload: {} },
      ],
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe("validation_failed");
    expect(body.error.details.map((d) => d.path.slice(0, 3))).toEqual([
      ["tasks", 1, "payload"],
      ["tasks", 3, "type"],
    ]);
    expect(body.error.details[1]?.code).toBe("unknown_task_type");
    expect(await countRows()).toBe(0);
  });

  test("an envelope error inside an item points at the item", async () => {
    const res = await stack.request("POST", "/v1/tasks/batch", {
      tasks: [
        { type: "echo", payload: 1 },
        { type: "echo", payload: 2, priority: "urgent" },
      ],
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.details[0]?.path).toEqual(["tasks", 1, "priority"]);
    expect(await countRows()).toBe(0);
  });

  test("empty and over-1000 batches are refused", async () => {
    expect((await stack.request("POST", "/v1/tasks/batch", { tasks: [] })).status).toBe(400);
    const big = Array.from({ length: 1001 }, (_, i) => ({ type: "echo", payload: i }));
    expect((await stack.request("POST", "/v1/tasks/batch", { tasks: big })).status).toBe(400);
  });

  test("a good batch is accepted in order and every task completes", async () => {
    const items = Array.from({ length: 200 }, (_, i) => ({ type: "echo", payload: { i } }));
    const res = await stack.request("POST", "/v1/tasks/batch", { tasks: items });
    expect(res.status).toBe(202);
    const { tasks } = (await res.json()) as { tasks: (Task & { payload: { i: number } })[] };
    expect(tasks.map((t) => t.payload.i)).toEqual(items.map((_, i) => i));
    await stack.startNode({ types: ["echo"] });
    await Promise.all(tasks.map((t) => waitStatus(stack, t.id, "completed")));
  });

  test("idempotency keys in a batch: a replay gets the first task, a different body refuses the batch", async () => {
    const first = await stack.request("POST", "/v1/tasks/batch", {
      tasks: [{ type: "echo", payload: "a", idempotencyKey: "batch-a" }],
    });
    const [a] = ((await first.json()) as { tasks: Task[] }).tasks;
    const replay = await stack.request("POST", "/v1/tasks/batch", {
      tasks: [
        { type: "echo", payload: "a", idempotencyKey: "batch-a" },
        { type: "echo", payload: "b", idempotencyKey: "batch-b" },
      ],
    });
    expect(replay.status).toBe(202);
    const replayed = ((await replay.json()) as { tasks: Task[] }).tasks;
    expect(replayed[0]?.id).toBe(a?.id ?? "missing");
    const before = await countRows();
    const clash = await stack.request("POST", "/v1/tasks/batch", {
      tasks: [
        { type: "echo", payload: "c", idempotencyKey: "batch-c" },
        { type: "echo", payload: "different", idempotencyKey: "batch-a" },
      ],
    });
    expect(clash.status).toBe(409);
    expect(await countRows()).toBe(before);
  });
});

describe("listing and counting", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack({ label: "list" });
  });
  afterAll(() => stack?.close());

  test("newest first, filtered, paged by cursor; summary counts the ledger", async () => {
    const batch = (tasks: unknown[]) => stack.request("POST", "/v1/tasks/batch", { tasks });
    await batch(
      Array.from({ length: 7 }, (_, i) => ({ type: "echo", payload: { n: i, word: i === 3 ? "needle" : "hay" } })),
    );
    await batch([{ type: "sleep", payload: { ms: 1 }, delayMs: 60_000 }]);

    const all: Task[] = [];
    let cursor: string | null = null;
    do {
      const res = await stack.request("GET", `/v1/tasks?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      const page = (await res.json()) as { tasks: Task[]; nextCursor: string | null };
      expect(page.tasks.length).toBeLessThanOrEqual(3);
      all.push(...page.tasks);
      cursor = page.nextCursor;
    } while (cursor);
    expect(all).toHaveLength(8);
    const ids = all.map((t) => t.id);
    expect(ids).toEqual([...ids].sort().reverse());
    expect(new Set(ids).size).toBe(8);

    const delayed = (await (await stack.request("GET", "/v1/tasks?status=delayed")).json()) as { tasks: Task[] };
    expect(delayed.tasks.map((t) => t.status)).toEqual(["delayed"]);
    const sleeps = (await (await stack.request("GET", "/v1/tasks?type=sleep")).json()) as { tasks: Task[] };
    expect(sleeps.tasks).toHaveLength(1);
    const found = (await (await stack.request("GET", "/v1/tasks?q=needle")).json()) as {
      tasks: (Task & { payload: { n: number } })[];
    };
    expect(found.tasks.map((t) => t.payload.n)).toEqual([3]);
    const byId = (await (await stack.request("GET", `/v1/tasks?q=${ids[0]?.slice(-12)}`)).json()) as { tasks: Task[] };
    expect(byId.tasks.map((t) => t.id)).toEqual([ids[0] ?? ""]);
    const none = (await (await stack.request("GET", "/v1/tasks?q=%25")).json()) as { tasks: Task[] };
    expect(none.tasks).toEqual([]); // % is matched literally, not as a wildcard

    const summary = await (await stack.request("GET", "/v1/tasks/summary")).json();
    expect(summary).toEqual({ queued: 7, delayed: 1, running: 0, completed: 0, failed: 0, cancelled: 0 });
    const sleepSummary = await (await stack.request("GET", "/v1/tasks/summary?type=sleep")).json();
    expect(sleepSummary).toMatchObject({ queued: 0, delayed: 1 });
  });

  test("since and until select by creation time", async () => {
    const first = (await (await stack.request("POST", "/v1/tasks", { type: "echo", payload: "early" })).json()) as Task;
    await Bun.sleep(5);
    const middle = new Date().toISOString();
    await Bun.sleep(5);
    const second = (await (await stack.request("POST", "/v1/tasks", { type: "echo", payload: "late" })).json()) as Task;
    const since = (await (await stack.request("GET", `/v1/tasks?since=${middle}`)).json()) as { tasks: Task[] };
    expect(since.tasks.map((t) => t.id)).toEqual([second.id]);
    const until = (await (await stack.request("GET", `/v1/tasks?until=${middle}&limit=500`)).json()) as {
      tasks: Task[];
    };
    expect(until.tasks.map((t) => t.id)).toContain(first.id);
    expect(until.tasks.map((t) => t.id)).not.toContain(second.id);
  });

  test("bad filters are 400, never 500", async () => {
    for (const q of ["limit=0", "limit=501", "status=sleeping", "cursor=nope", "since=yesterday", "extra=1"]) {
      const res = await stack.request("GET", `/v1/tasks?${q}`);
      expect({ q, status: res.status }).toEqual({ q, status: 400 });
    }
  });
});
