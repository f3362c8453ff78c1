import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type AppProcess, announced, type NodeInfo, spawnApp } from "../harness/apps.ts";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";

const ECHOES = 200;
const SLEEPS = 120;

// Three real worker processes on one database and queue prefix, as three machines would run them.
describe("three worker processes sharing the queues", () => {
  let stack: TestStack;
  const workers: AppProcess[] = [];
  let nodes: NodeInfo[] = [];

  beforeAll(async () => {
    stack = await createTestStack({ label: "multinode" });
    workers.push(
      spawnApp(stack, "worker", { LOG_LEVEL: "warn" }),
      spawnApp(stack, "worker", { LOG_LEVEL: "warn" }),
      spawnApp(stack, "worker", { LOG_LEVEL: "warn", WORKER_TYPES: "sleep" }),
    );
    nodes = await Promise.all(workers.map((w) => announced(stack, w)));
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await stack?.close();
  });

  test(
    "run every task of a mixed workload exactly once, each node a share; the sleep-only node takes no echo",
    async () => {
      const [a, b, sleepOnly] = nodes as [NodeInfo, NodeInfo, NodeInfo];
      expect(a.types).toEqual(expect.arrayContaining(["echo", "sleep"]));
      expect(sleepOnly.types).toEqual(["sleep"]);

      const tasks = [
        ...Array.from({ length: ECHOES }, (_, i) => ({ type: "echo", payload: { i } })),
        ...Array.from({ length: SLEEPS }, () => ({ type: "sleep", payload: { ms: 100 } })),
      ].sort(() => Math.random() - 0.5);
      for (let i = 0; i < tasks.length; i += 100) {
        const res = await stack.request("POST", "/v1/tasks/batch", { tasks: tasks.slice(i, i + 100) });
        expect(res.status).toBe(202);
      }

      const { sql } = stack.runtime.pg;
      await eventually(
        async () => {
          const [row] = await sql<{ n: number }[]>`select count(*)::int as n from tasks where status = 'completed'`;
          return row?.n === ECHOES + SLEEPS;
        },
        { timeoutMs: 45_000, intervalMs: 250, what: "every task to complete" },
      );

      // Each task: one attempt, completed, on one of the three nodes.
      const attempts = await sql<{ taskId: string; type: string; node: string; outcome: string }[]>`
        select a.task_id as "taskId", t.type, a.node, a.outcome
          from task_attempts a join tasks t on t.id = a.task_id`;
      expect(attempts.length).toBe(ECHOES + SLEEPS);
      expect(new Set(attempts.map((r) => r.taskId)).size).toBe(ECHOES + SLEEPS);
      expect(attempts.every((r) => r.outcome === "completed")).toBe(true);
      const ids = nodes.map((n) => n.id);
      expect(attempts.every((r) => ids.includes(r.node))).toBe(true);

      const ran = (node: NodeInfo, type?: string) =>
        attempts.filter((r) => r.node === node.id && (type === undefined || r.type === type)).length;
      for (const node of nodes) expect(ran(node)).toBeGreaterThan(0);
      expect(ran(sleepOnly, "echo")).toBe(0);
      expect(ran(sleepOnly, "sleep")).toBeGreaterThan(0);
      expect(ran(a, "echo") + ran(b, "echo")).toBe(ECHOES);
    },
    { timeout: 60_000 },
  );
});
