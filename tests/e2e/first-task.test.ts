import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";

type Task = {
  id: string;
  status: string;
  result: unknown;
  attempts: number;
  progress: number | null;
  node: string | null;
};
type Attempt = { n: number; outcome: string; node: string; durationMs: number | null };

describe("a task end to end: HTTP, ledger, BullMQ, worker, ledger", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await createTestStack({ label: "e2e" });
    await stack.startNode();
  });
  afterAll(() => stack?.close());

  async function waitFinal(id: string): Promise<Task> {
    return eventually(
      async () => {
        const t = (await (await stack.request("GET", `/v1/tasks/${id}`)).json()) as Task;
        return ["completed", "failed", "cancelled"].includes(t.status) ? t : undefined;
      },
      { what: `task ${id} to finish` },
    );
  }

  test("echo completes with its payload as the result and one attempt", async () => {
    const payload = { hello: "world", n: [1, 2, 3] };
    const res = await stack.request("POST", "/v1/tasks", { type: "echo", payload });
    expect(res.status).toBe(202);
    const submitted = (await res.json()) as Task;
    expect(submitted.status).toBe("queued");

    const done = await waitFinal(submitted.id);
    expect(done.status).toBe("completed");
    expect(done.result).toEqual(payload);
    expect(done.attempts).toBe(1);
    expect(done.progress).toBe(100);
    expect(done.node).toBe(stack.nodes[0]?.id ?? "missing");

    const attempts = (await (await stack.request("GET", `/v1/tasks/${submitted.id}/attempts`)).json()) as {
      attempts: Attempt[];
    };
    expect(attempts.attempts).toHaveLength(1);
    expect(attempts.attempts[0]?.outcome).toBe("completed");
    expect(attempts.attempts[0]?.n).toBe(1);
  });

  test("sleep completes after its time, reporting progress on the way", async () => {
    // Long enough that progress (written at most every 250 ms) is seen before the end.
    const res = await stack.request("POST", "/v1/tasks", { type: "sleep", payload: { ms: 1000 } });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as Task;
    const progressSeen = await eventually(
      async () => {
        const t = (await (await stack.request("GET", `/v1/tasks/${id}`)).json()) as Task;
        return t.status === "running" && t.progress !== null && t.progress < 100 ? t.progress : undefined;
      },
      { what: "progress while running", intervalMs: 10 },
    );
    expect(progressSeen).toBeGreaterThan(0);
    const done = await waitFinal(id);
    expect(done.status).toBe("completed");
    expect(done.result).toEqual({ sleptMs: 1000 });
    const attempts = (await (await stack.request("GET", `/v1/tasks/${id}/attempts`)).json()) as { attempts: Attempt[] };
    expect(attempts.attempts.map((a) => a.outcome)).toEqual(["completed"]);
    expect(attempts.attempts[0]?.durationMs ?? 0).toBeGreaterThanOrEqual(990);
  });

  test("GET /v1/nodes lists the running node as up, with what it serves", async () => {
    const res = await stack.request("GET", "/v1/nodes");
    expect(res.status).toBe(200);
    const { nodes } = (await res.json()) as { nodes: { id: string; status: string; types: string[]; pid: number }[] };
    const node = nodes.find((n) => n.id === stack.nodes[0]?.id);
    expect(node).toMatchObject({ status: "up", pid: process.pid });
    expect(node?.types.sort()).toEqual(stack.runtime.catalog.types.sort());
  });
});
