import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  type AppProcess,
  announced,
  createTestStack,
  eventually,
  listNodes,
  spawnApp,
  type TestStack,
} from "../harness/index.ts";

type Attempt = { outcome: string; node: string };

// A real worker process, killed with SIGKILL: no goodbye, no ledger write, no lock release.
describe("a worker process killed mid-task", () => {
  let stack: TestStack;
  let worker: AppProcess | undefined;

  beforeAll(async () => {
    stack = await createTestStack({ label: "killed", lockMs: 2000 });
  });
  afterAll(async () => {
    if (worker && worker.proc.exitCode === null) worker.proc.kill("SIGKILL");
    await stack?.close();
  });

  test(
    "goes lost within about 15 s; the reconciler closes its attempt as stalled and another node completes the task",
    async () => {
      // spawnApp keeps the process's own reconciler out of the way (the test runs one by hand,
      // forced: the killed process may die holding the lead, which then lapses only after two intervals).
      worker = spawnApp(stack, "worker", { WORKER_TYPES: "sleep", JOB_LOCK_MS: "2000", LOG_LEVEL: "error" });
      const node = await announced(stack, worker, 20_000);

      const res = await stack.request("POST", "/v1/tasks", { type: "sleep", payload: { ms: 1500 } });
      const { id } = (await res.json()) as { id: string };
      await eventually(
        async () => {
          const t = (await (await stack.request("GET", `/v1/tasks/${id}`)).json()) as { status: string; node: string };
          return t.status === "running" && t.node === node.id;
        },
        { what: "the task to run on the process" },
      );

      worker.proc.kill("SIGKILL");
      await worker.exited;
      const killedAt = Date.now();
      const lost = await eventually(
        async () => (await listNodes(stack)).find((n) => n.id === node.id && n.status === "lost"),
        {
          timeoutMs: 25_000,
          intervalMs: 250,
          what: "the killed node to be lost",
        },
      );
      expect(lost.status).toBe("lost");
      expect(Date.now() - killedAt).toBeLessThan(25_000);

      // The reconciler's threshold is the same 15 s, measured on its own clock read: try a few times.
      const reconciler = stack.reconciler();
      const report = await eventually(
        async () => {
          const r = await reconciler.runOnce({ force: true });
          return r.stalled > 0 ? r : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 500, what: "the reconciler to close the attempt" },
      );
      expect(report.stalled).toBe(1);
      await stack.startNode({ types: ["sleep"] });
      const done = (await (await stack.request("GET", `/v1/tasks/${id}?waitMs=20000`)).json()) as { status: string };
      expect(done.status).toBe("completed");
      const attempts = (
        (await (await stack.request("GET", `/v1/tasks/${id}/attempts`)).json()) as { attempts: Attempt[] }
      ).attempts;
      expect(attempts.map((a) => a.outcome)).toEqual(["stalled", "completed"]);
      expect(attempts[0]?.node).toBe(node.id);
    },
    { timeout: 90_000 },
  );
});
