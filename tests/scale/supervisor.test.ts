import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { projectRoot } from "@conveyor/core";
import { childEnv, createTestStack, eventually, listNodes, type TestStack } from "../harness/index.ts";

/** Live (not zombie) processes whose parent is `ppid`, read from /proc. */
function childPids(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // `pid (comm) state ppid ...`: comm may hold spaces, so read after its closing parenthesis.
      const [state, parent] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(parent) === ppid && state !== "Z") pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

// `bun run start:workers` as a real process: it follows the scaling signal between WORKERS_MIN
// and WORKERS_MAX, replaces a killed worker, and passes its own SIGTERM on.
describe("the worker supervisor (start:workers)", () => {
  let stack: TestStack;
  let supervisor: ReturnType<typeof Bun.spawn> | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    stack = await createTestStack({ label: "supervisor" });
  });
  afterAll(async () => {
    if (supervisor && supervisor.exitCode === null) {
      for (const pid of childPids(supervisor.pid)) process.kill(pid, "SIGKILL");
      supervisor.kill("SIGKILL");
    }
    await stack?.close();
  });

  const nodesUp = async () => (await listNodes(stack)).filter((n) => n.status === "up");

  test(
    "replaces a killed worker, grows toward WORKERS_MAX under a backlog, shrinks to WORKERS_MIN when idle, stops on SIGTERM",
    async () => {
      const env = childEnv({
        DATABASE_URL: stack.db.url,
        REDIS_URL: stack.redis.url,
        QUEUE_PREFIX: stack.prefix,
        MIGRATE_ON_START: "false",
        WORKERS_MIN: "1",
        WORKERS_MAX: "3",
        // One slow task at a time per worker, and a drain target of a second: any backlog asks for more.
        WORKER_TYPES: "sleep",
        WORKER_CONCURRENCY: "sleep=1",
        SCALING_TARGET_DRAIN_S: "1",
        WORKERS_INTERVAL_MS: "250",
        WORKERS_SCALE_DOWN_DELAY_MS: "1000",
        WORKERS_RESTART_BACKOFF_MS: "200",
        WORKERS_ARRIVAL_WINDOW_MS: "1000",
        SHUTDOWN_GRACE_MS: "5000",
        RECONCILE_INTERVAL_MS: "3600000",
        LOG_LEVEL: "info",
      });
      const proc = Bun.spawn([process.execPath, "scripts/workers.ts"], {
        cwd: projectRoot(),
        env,
        stdout: "pipe",
        stderr: "inherit",
      });
      supervisor = proc;
      void (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of proc.stdout) lines.push(...decoder.decode(chunk).split("\n").filter(Boolean));
      })();
      const supervisorLog = () =>
        lines.flatMap((l) => {
          try {
            const entry = JSON.parse(l) as { app?: string; msg?: string; pid?: number };
            return entry.app === "workers" ? [entry] : [];
          } catch {
            return [];
          }
        });

      try {
        // WORKERS_MIN: one worker, announced as a node.
        const [first] = await eventually(
          async () => {
            const pids = childPids(proc.pid);
            const up = await nodesUp();
            return pids.length === 1 && up.some((n) => n.pid === pids[0]) && pids;
          },
          { timeoutMs: 20_000, intervalMs: 100, what: "one worker up" },
        );
        if (first === undefined) throw new Error("no worker");

        // Killed: replaced by a new process, and the supervisor says why.
        process.kill(first, "SIGKILL");
        const replacement = await eventually(
          async () => {
            const pids = childPids(proc.pid);
            const up = await nodesUp();
            return pids.length === 1 && pids[0] !== first && up.some((n) => n.pid === pids[0]) && pids[0];
          },
          { timeoutMs: 20_000, intervalMs: 100, what: "the killed worker to be replaced" },
        );
        expect(replacement).not.toBe(first);
        expect(supervisorLog().some((e) => e.msg?.includes("exited unexpectedly") && e.pid === first)).toBe(true);

        // A backlog: the workers grow to WORKERS_MAX, never beyond.
        const tasks = Array.from({ length: 60 }, () => ({ type: "sleep", payload: { ms: 500 } }));
        const res = await stack.request("POST", "/v1/tasks/batch", { tasks });
        expect(res.status).toBe(202);
        let most = 0;
        await eventually(
          () => {
            most = Math.max(most, childPids(proc.pid).length);
            return most >= 3;
          },
          { timeoutMs: 25_000, intervalMs: 100, what: "three workers under the backlog" },
        );
        expect(most).toBe(3);

        // Idle again: every task done, then back to WORKERS_MIN (extra workers drain and exit).
        await eventually(
          async () => {
            most = Math.max(most, childPids(proc.pid).length);
            const s = (await (await stack.request("GET", "/v1/tasks/summary")).json()) as { completed: number };
            return s.completed === 60;
          },
          { timeoutMs: 30_000, intervalMs: 250, what: "every task to complete" },
        );
        await eventually(
          () => {
            const n = childPids(proc.pid).length;
            most = Math.max(most, n);
            return n === 1;
          },
          { timeoutMs: 20_000, intervalMs: 100, what: "back to one worker" },
        );
        expect(most).toBe(3);
        expect(supervisorLog().some((e) => e.msg === "stopping a worker (scale down)")).toBe(true);

        // SIGTERM: passed on to the worker; the supervisor exits 0 after it.
        const last = childPids(proc.pid);
        proc.kill("SIGTERM");
        expect(await proc.exited).toBe(0);
        for (const pid of last) expect(() => process.kill(pid, 0)).toThrow();
        expect(supervisorLog().some((e) => e.msg === "worker supervisor stopped")).toBe(true);
      } catch (err) {
        console.error(lines.slice(-40).join("\n"));
        throw err;
      }
    },
    { timeout: 58_000 },
  );
});
