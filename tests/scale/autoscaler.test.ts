import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLogger } from "@conveyor/core";
import { createWorkerNode, type WorkerNode } from "@conveyor/worker";
import { listNodes } from "../harness/apps.ts";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";

const TASKS = 400;

describe("a node's autoscaler", () => {
  let stack: TestStack;
  let node: WorkerNode;

  beforeAll(async () => {
    stack = await createTestStack({ label: "autoscale" });
    node = createWorkerNode({
      ledger: stack.runtime.ledger,
      catalog: stack.runtime.catalog,
      events: stack.runtime.events,
      redis: stack.redis,
      queuePrefix: stack.prefix,
      log: createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent"),
      types: ["sleep"],
      concurrency: { sleep: { min: 2, max: 40 } },
      lockMs: 30_000,
      heartbeatMs: 200,
      // Fast looks for the test; a loaded test machine's lag must not stand in for the node's.
      autoscale: { intervalMs: 200, idleTicks: 3, maxLagMs: 5000 },
    });
    await node.start();
    stack.nodes.push(node);
  });
  afterAll(() => stack?.close());

  const shown = async () => (await listNodes(stack)).find((n) => n.id === node.id)?.concurrency.sleep;

  test(
    "starts at the minimum, raises while a backlog waits, lowers back to the minimum when idle",
    async () => {
      expect(await eventually(shown, { what: "the node to be listed" })).toBe(2);

      for (let i = 0; i < TASKS; i += 100) {
        const tasks = Array.from({ length: 100 }, () => ({ type: "sleep", payload: { ms: 50 } }));
        expect((await stack.request("POST", "/v1/tasks/batch", { tasks })).status).toBe(202);
      }
      let peakActive = 0;
      let peakShown = 0;
      const { sql } = stack.runtime.pg;
      await eventually(
        async () => {
          peakActive = Math.max(peakActive, node.activeCount);
          peakShown = Math.max(peakShown, (await shown()) ?? 0);
          const [row] = await sql<{ n: number }[]>`select count(*)::int as n from tasks where status = 'completed'`;
          return row?.n === TASKS;
        },
        { timeoutMs: 40_000, intervalMs: 50, what: "every task to complete" },
      );
      // Raised (as GET /v1/nodes shows), for real (more ran at once than the minimum), within the maximum.
      expect(peakShown).toBeGreaterThan(2);
      expect(peakShown).toBeLessThanOrEqual(40);
      expect(peakActive).toBeGreaterThan(2);

      await eventually(async () => (await shown()) === 2, {
        timeoutMs: 15_000,
        intervalMs: 100,
        what: "the concurrency to come back to the minimum",
      });
      expect(node.concurrency).toEqual({ sleep: 2 });
    },
    { timeout: 60_000 },
  );

  test(
    "a raise takes effect while every slot is busy with a long task (not only when one ends)",
    async () => {
      const tasks = Array.from({ length: 12 }, () => ({ type: "sleep", payload: { ms: 8000 } }));
      expect((await stack.request("POST", "/v1/tasks/batch", { tasks })).status).toBe(202);
      const { sql } = stack.runtime.pg;
      const seen = await eventually(
        async () => {
          const [row] = await sql<{ running: number; ended: number }[]>`
            select count(*) filter (where status = 'running')::int as running,
                   count(*) filter (where status in ('completed', 'failed'))::int as ended
              from tasks where payload->>'ms' = '8000'`;
          return row && row.running > 2 ? row : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 50, what: "more than the minimum to run at once" },
      );
      // None of the long tasks had ended: the node took more without waiting for a slot to free.
      expect(seen.ended).toBe(0);
    },
    { timeout: 60_000 },
  );
});
