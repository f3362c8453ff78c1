import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { projectRoot } from "@conveyor/core";
import { childEnv, createTestStack, eventually, type TestStack } from "../harness/index.ts";

type NodeInfo = { id: string; pid: number; status: string; active: number };
type Attempt = { outcome: string; node: string };

// A real worker process, killed with SIGKILL: no goodbye, no ledger write, no lock release.
describe("a worker process killed mid-task", () => {
  let stack: TestStack;
  let proc: ReturnType<typeof Bun.spawn> | undefined;

  beforeAll(async () => {
    stack = await createTestStack({ label: "killed", lockMs: 2000 });
  });
  afterAll(async () => {
    if (proc && proc.exitCode === null) proc.kill("SIGKILL");
    await stack?.close();
  });

  const nodes = async () => ((await (await stack.request("GET", "/v1/nodes")).json()) as { nodes: NodeInfo[] }).nodes;

  test(
    "goes lost within about 15 s; the reconciler closes its attempt as stalled and another node completes the task",
    async () => {
      const env = childEnv({
        DATABASE_URL: stack.db.url,
        REDIS_URL: stack.redis.url,
        QUEUE_PREFIX: stack.prefix,
        WORKER_PORT: "0",
        WORKER_TYPES: "sleep",
        MIGRATE_ON_START: "false",
        JOB_LOCK_MS: "2000",
        // Its own reconciler stays out of the way (the test runs one by hand, forced: the killed
        // process may die holding the lead, which then lapses only after two intervals).
        RECONCILE_INTERVAL_MS: "3600000",
        LOG_LEVEL: "error",
      });
      proc = Bun.spawn(["bun", "apps/worker/src/index.ts"], {
        cwd: projectRoot(),
        env,
        stdout: "ignore",
        stderr: "inherit",
      });
      const pid = proc.pid;
      const node = await eventually(async () => (await nodes()).find((n) => n.pid === pid && n.status === "up"), {
        timeoutMs: 20_000,
        what: "the worker process to announce itself",
      });

      const res = await stack.request("POST", "/v1/tasks", { type: "sleep", payload: { ms: 1500 } });
      const { id } = (await res.json()) as { id: string };
      await eventually(
        async () => {
          const t = (await (await stack.request("GET", `/v1/tasks/${id}`)).json()) as { status: string; node: string };
          return t.status === "running" && t.node === node.id;
        },
        { what: "the task to run on the process" },
      );

      proc.kill("SIGKILL");
      await proc.exited;
      const killedAt = Date.now();
      const lost = await eventually(async () => (await nodes()).find((n) => n.id === node.id && n.status === "lost"), {
        timeoutMs: 25_000,
        intervalMs: 250,
        what: "the killed node to be lost",
      });
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
