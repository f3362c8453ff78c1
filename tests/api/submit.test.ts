import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, type TestStack } from "../harness/index.ts";

type Task = {
  id: string;
  tenant: string;
  type: string;
  status: string;
  priority: string;
  payload: unknown;
  result: unknown;
  error: unknown;
  progress: number | null;
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  idempotencyKey: string | null;
  scheduleId: string | null;
  runAt: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  node: string | null;
};

/** Every field of the contract's Task, in its order. */
const TASK_FIELDS = [
  "id",
  "tenant",
  "type",
  "status",
  "priority",
  "payload",
  "result",
  "error",
  "progress",
  "attempts",
  "maxAttempts",
  "timeoutMs",
  "idempotencyKey",
  "scheduleId",
  "runAt",
  "createdAt",
  "startedAt",
  "finishedAt",
  "node",
];

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

describe("POST /v1/tasks", () => {
  let stack: TestStack;

  // No worker node is started: submitted tasks stay as the API left them.
  beforeAll(async () => {
    stack = await createTestStack({ label: "api_submit" });
  });
  afterAll(() => stack?.close());

  async function submit(body: unknown): Promise<{ status: number; task: Task }> {
    const res = await stack.request("POST", "/v1/tasks", body);
    return { status: res.status, task: (await res.json()) as Task };
  }

  test("answers 202 with the whole Task of the contract", async () => {
    const before = Date.now();
    const payload = { hello: "world", n: [1, 2, 3], nested: { ok: true } };
    const { status, task } = await submit({ type: "echo", payload });
    expect(status).toBe(202);
    expect(Object.keys(task).sort()).toEqual([...TASK_FIELDS].sort());
    expect(task.id).toMatch(UUID_V7);
    expect(task).toEqual({
      id: task.id,
      tenant: "default",
      type: "echo",
      status: "queued",
      priority: "normal",
      payload,
      result: null,
      error: null,
      progress: null,
      attempts: 0,
      maxAttempts: 3,
      timeoutMs: 30_000,
      idempotencyKey: null,
      scheduleId: null,
      runAt: null,
      createdAt: task.createdAt,
      startedAt: null,
      finishedAt: null,
      node: null,
    });
    expect(task.createdAt).toMatch(ISO);
    const created = Date.parse(task.createdAt);
    expect(created).toBeGreaterThanOrEqual(before - 1000);
    expect(created).toBeLessThanOrEqual(Date.now() + 1000);
  });

  test("the defaults are the task type's own", async () => {
    const { status, task } = await submit({ type: "sleep", payload: { ms: 10 } });
    expect(status).toBe(202);
    expect(task.timeoutMs).toBe(3_660_000);
    expect(task.maxAttempts).toBe(3);
    expect(task.priority).toBe("normal");
  });

  test("payloads of any JSON kind are kept as given", async () => {
    for (const payload of [null, 0, "text", [1, "two", null], { deep: { er: [{}] } }, true]) {
      const { status, task } = await submit({ type: "echo", payload });
      expect(status).toBe(202);
      expect(task.payload).toEqual(payload);
    }
  });

  test("every submission gets a new id, in creation order", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit({ type: "echo", payload: i })).task.id);
    expect(new Set(ids).size).toBe(5);
    expect([...ids].sort()).toEqual(ids);
  });

  test("GET /v1/tasks/:id answers the same task, with no attempts yet", async () => {
    const { task } = await submit({ type: "echo", payload: { read: "back" } });
    const res = await stack.request("GET", `/v1/tasks/${task.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(task);
    const attempts = await stack.request("GET", `/v1/tasks/${task.id}/attempts`);
    expect(attempts.status).toBe(200);
    expect(await attempts.json()).toEqual({ attempts: [] });
  });

  test("delayMs makes the task delayed with runAt in the future", async () => {
    const before = Date.now();
    const { status, task } = await submit({ type: "echo", payload: 1, delayMs: 60_000 });
    expect(status).toBe(202);
    expect(task.status).toBe("delayed");
    expect(task.runAt).toMatch(ISO);
    const runAt = Date.parse(task.runAt ?? "");
    expect(runAt).toBeGreaterThanOrEqual(before + 60_000 - 1000);
    expect(runAt).toBeLessThanOrEqual(Date.now() + 60_000 + 1000);
  });

  test("runAt in the future makes the task delayed until then", async () => {
    const at = new Date(Date.now() + 3_600_000);
    const { status, task } = await submit({ type: "echo", payload: 1, runAt: at.toISOString() });
    expect(status).toBe(202);
    expect(task.status).toBe("delayed");
    expect(Date.parse(task.runAt ?? "")).toBe(at.getTime());
  });

  test("delayMs 0 is not delayed", async () => {
    const { task } = await submit({ type: "echo", payload: 1, delayMs: 0 });
    expect(task.status).toBe("queued");
  });

  test("priority, timeoutMs and maxAttempts overrides are echoed", async () => {
    const { status, task } = await submit({
      type: "echo",
      payload: {},
      priority: "critical",
      timeoutMs: 5000,
      maxAttempts: 7,
      backoff: { strategy: "fixed", delayMs: 250 },
    });
    expect(status).toBe(202);
    expect(task.priority).toBe("critical");
    expect(task.timeoutMs).toBe(5000);
    expect(task.maxAttempts).toBe(7);
    for (const priority of ["high", "normal", "low"]) {
      expect((await submit({ type: "echo", payload: {}, priority })).task.priority).toBe(priority);
    }
  });

  describe("idempotency", () => {
    test("the same key and the same body (keys in another order) answer 200 with the first task", async () => {
      const key = `same-${crypto.randomUUID()}`;
      const first = await submit({
        type: "echo",
        payload: { a: 1, b: { c: 2, d: 3 } },
        idempotencyKey: key,
        priority: "high",
      });
      expect(first.status).toBe(202);
      expect(first.task.idempotencyKey).toBe(key);

      const again = await submit({
        priority: "high",
        idempotencyKey: key,
        payload: { b: { d: 3, c: 2 }, a: 1 },
        type: "echo",
      });
      expect(again.status).toBe(200);
      expect(again.task).toEqual(first.task);
    });

    test("defaults are applied before comparing: an explicit default is the same body", async () => {
      const key = `defaults-${crypto.randomUUID()}`;
      const first = await submit({ type: "echo", payload: 1, idempotencyKey: key });
      expect(first.status).toBe(202);
      const again = await submit({ type: "echo", payload: 1, idempotencyKey: key, priority: "normal", maxAttempts: 3 });
      expect(again.status).toBe(200);
      expect(again.task.id).toBe(first.task.id);
    });

    test("the same key with a different body is 409 conflict, and the first task is kept", async () => {
      const key = `different-${crypto.randomUUID()}`;
      const first = await submit({ type: "echo", payload: { a: 1 }, idempotencyKey: key });
      expect(first.status).toBe(202);
      for (const body of [
        { type: "echo", payload: { a: 2 }, idempotencyKey: key },
        { type: "echo", payload: { a: 1 }, idempotencyKey: key, priority: "low" },
        { type: "sleep", payload: { ms: 1 }, idempotencyKey: key },
      ]) {
        const res = await stack.request("POST", "/v1/tasks", body);
        expect(res.status).toBe(409);
        const err = (await res.json()) as { error: { code: string; message: string; details: unknown[] } };
        expect(err).toEqual({ error: { code: "conflict", message: expect.any(String), details: [] } });
      }
      const kept = await stack.request("GET", `/v1/tasks/${first.task.id}`);
      expect(((await kept.json()) as Task).payload).toEqual({ a: 1 });
      const rows = await stack.runtime.pg.sql<{ count: number }[]>`
        select count(*)::int as count from tasks where idempotency_key = ${key}`;
      expect(rows[0]?.count).toBe(1);
    });

    test("the same key sent many times at once makes one task", async () => {
      const key = `race-${crypto.randomUUID()}`;
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => submit({ type: "echo", payload: { race: true }, idempotencyKey: key })),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
      expect(new Set(answers.map((a) => a.task.id)).size).toBe(1);
    });

    test("different keys make different tasks", async () => {
      const a = await submit({ type: "echo", payload: 1, idempotencyKey: `a-${crypto.randomUUID()}` });
      const b = await submit({ type: "echo", payload: 1, idempotencyKey: `b-${crypto.randomUUID()}` });
      expect(a.status).toBe(202);
      expect(b.status).toBe(202);
      expect(a.task.id).not.toBe(b.task.id);
    });
  });

  test("the task is a row in PostgreSQL, in tenant default", async () => {
    const { task } = await submit({ type: "echo", payload: { stored: 1 }, priority: "low" });
    const rows = await stack.runtime.pg.sql<
      {
        id: string;
        tenant: string;
        type: string;
        status: string;
        priority: string;
        payload: unknown;
        attempts: number;
      }[]
    >`select id, tenant, type, status, priority, payload, attempts from tasks where id = ${task.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toEqual({
      id: task.id,
      tenant: "default",
      type: "echo",
      status: "queued",
      priority: "low",
      payload: { stored: 1 },
      attempts: 0,
    });
  });

  test("the task is handed to its BullMQ queue", async () => {
    const { task } = await submit({ type: "echo", payload: { queued: true } });
    const keys = await stack.runtime.redis.keys(`${stack.prefix}:*${task.id}*`);
    expect(keys.length).toBeGreaterThan(0);
  });
});
