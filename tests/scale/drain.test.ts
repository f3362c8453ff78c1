import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type AppProcess, announced, listNodes, spawnApp } from "../harness/apps.ts";
import { createTestStack, eventually, freePort, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { attemptsOf, getTask, type Task } from "../lifecycle/support.ts";

const started: AppProcess[] = [];
afterAll(async () => {
  for (const p of started) if (p.proc.exitCode === null) p.proc.kill("SIGKILL");
});

function spawn(stack: TestStack, app: "worker" | "api" | "monitor", env: Record<string, string>): AppProcess {
  const p = spawnApp(stack, app, env);
  started.push(p);
  return p;
}

async function submit(stack: TestStack, body: Record<string, unknown>): Promise<Task> {
  const res = await stack.request("POST", "/v1/tasks", body);
  expect(res.status).toBe(202);
  return (await res.json()) as Task;
}

describe("a worker process on SIGTERM", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack({ label: "drain" });
  });
  afterAll(() => stack?.close());

  test(
    "finishes its running tasks, takes no new one, leaves the node list and exits 0",
    async () => {
      const worker = spawn(stack, "worker", {
        WORKER_TYPES: "sleep",
        // Free slots to spare: whatever it does not take after the signal, it could have.
        WORKER_CONCURRENCY: "sleep=8-8",
        SHUTDOWN_GRACE_MS: "30000",
      });
      const node = await announced(stack, worker);
      const running = await Promise.all(
        Array.from({ length: 4 }, () => submit(stack, { type: "sleep", payload: { ms: 1500 } })),
      );
      await eventually(
        async () => {
          const tasks = await Promise.all(running.map((t) => getTask(stack, t.id)));
          return tasks.every((t) => t.status === "running" && t.node === node.id);
        },
        { timeoutMs: 15_000, what: "the four tasks to run on the process" },
      );

      worker.proc.kill("SIGTERM");
      await worker.logged("draining");
      const later = await Promise.all(
        Array.from({ length: 3 }, () => submit(stack, { type: "sleep", payload: { ms: 50 } })),
      );
      expect(await worker.exited).toBe(0);

      for (const t of running) {
        const done = await getTask(stack, t.id);
        expect(done.status).toBe("completed");
        expect((await attemptsOf(stack, t.id)).map((a) => [a.outcome, a.node])).toEqual([["completed", node.id]]);
      }
      // Submitted after the signal: it took none of them; they wait for another node.
      for (const t of later) {
        expect((await getTask(stack, t.id)).status).toBe("queued");
        expect(await attemptsOf(stack, t.id)).toEqual([]);
      }
      expect((await listNodes(stack)).map((n) => n.id)).not.toContain(node.id);

      const second = await stack.startNode({ types: ["sleep"] });
      for (const t of later) {
        const done = (await (await stack.request("GET", `/v1/tasks/${t.id}?waitMs=15000`)).json()) as Task;
        expect(done).toMatchObject({ status: "completed", node: second.id });
      }
    },
    { timeout: 60_000 },
  );

  test(
    "with a short grace period hands its tasks back as interrupted; another node runs them without using up an attempt",
    async () => {
      const worker = spawn(stack, "worker", {
        WORKER_TYPES: "sleep",
        WORKER_CONCURRENCY: "sleep=4-4",
        SHUTDOWN_GRACE_MS: "300",
      });
      const node = await announced(stack, worker);
      for (const n of stack.nodes) await n.close(0);
      const tasks = await Promise.all(
        Array.from({ length: 3 }, () => submit(stack, { type: "sleep", payload: { ms: 2500 }, maxAttempts: 1 })),
      );
      await eventually(
        async () => (await Promise.all(tasks.map((t) => getTask(stack, t.id)))).every((t) => t.status === "running"),
        { timeoutMs: 15_000, what: "the tasks to run on the process" },
      );
      const other = await stack.startNode({ types: ["sleep"] });

      worker.proc.kill("SIGTERM");
      expect(await worker.exited).toBe(0);
      expect((await listNodes(stack)).map((n) => n.id)).not.toContain(node.id);

      for (const t of tasks) {
        const done = (await (await stack.request("GET", `/v1/tasks/${t.id}?waitMs=20000`)).json()) as Task;
        expect(done).toMatchObject({ status: "completed", node: other.id, maxAttempts: 1, attempts: 2 });
        const attempts = await attemptsOf(stack, t.id);
        expect(attempts.map((a) => [a.outcome, a.node])).toEqual([
          ["interrupted", node.id],
          ["completed", other.id],
        ]);
        expect(attempts[0]?.error?.code).toBe("interrupted");
      }
    },
    { timeout: 60_000 },
  );
});

describe("a worker process on a second signal", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack({ label: "drain2" });
  });
  afterAll(() => stack?.close());

  test(
    "ends the grace period at once: the running task is handed back and the process exits 0",
    async () => {
      const worker = spawn(stack, "worker", { WORKER_TYPES: "sleep", SHUTDOWN_GRACE_MS: "60000" });
      const node = await announced(stack, worker);
      const task = await submit(stack, { type: "sleep", payload: { ms: 60_000 } });
      await eventually(async () => (await getTask(stack, task.id)).status === "running", {
        timeoutMs: 15_000,
        what: "the task to run on the process",
      });
      worker.proc.kill("SIGINT");
      await worker.logged("draining");
      worker.proc.kill("SIGINT");
      expect(await worker.exited).toBe(0);
      expect((await attemptsOf(stack, task.id)).map((a) => [a.outcome, a.node])).toEqual([["interrupted", node.id]]);
      expect((await getTask(stack, task.id)).status).toBe("queued");
    },
    { timeout: 60_000 },
  );
});

describe("the api process on SIGTERM", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack({ label: "drainapi" });
  });
  afterAll(() => stack?.close());

  test(
    "answers a long poll in flight (not cut), refuses new connections, exits 0",
    async () => {
      const port = freePort();
      const api = spawn(stack, "api", { API_PORT: String(port), ADMIN_API_KEY: TEST_ADMIN_KEY });
      await api.logged("api listening");
      const base = `http://127.0.0.1:${port}`;
      const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" };
      const res = await fetch(`${base}/v1/tasks`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ type: "sleep", payload: { ms: 200 } }),
      });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as Task;

      // Nothing serves `sleep` yet: the poll is held until a node, started after the signal, completes it.
      const poll = fetch(`${base}/v1/tasks/${id}?waitMs=20000`, { headers: auth });
      await Bun.sleep(300);
      api.proc.kill("SIGTERM");
      await api.logged("draining");
      await expect(fetch(`${base}/healthz`)).rejects.toThrow();
      await stack.startNode({ types: ["sleep"] });

      const answer = await poll;
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as Task).status).toBe("completed");
      expect(await api.exited).toBe(0);
    },
    { timeout: 60_000 },
  );
});

describe("the monitor process on SIGTERM", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack({ label: "drainmonitor" });
  });
  afterAll(() => stack?.close());

  test(
    "ends its SSE and WebSocket streams, answers a proxied request in flight, exits 0",
    async () => {
      // The monitor proxies /v1 to a real api process.
      const apiPort = freePort();
      const api = spawn(stack, "api", { API_PORT: String(apiPort), ADMIN_API_KEY: TEST_ADMIN_KEY });
      await api.logged("api listening");
      const port = freePort();
      const monitor = spawn(stack, "monitor", {
        MONITOR_PORT: String(port),
        API_URL: `http://127.0.0.1:${apiPort}`,
        ADMIN_API_KEY: TEST_ADMIN_KEY,
      });
      await monitor.logged("monitor listening");
      const base = `http://127.0.0.1:${port}`;
      const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

      const sse = await fetch(`${base}/events`, { headers: auth });
      expect(sse.status).toBe(200);
      const reader = (sse.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let text = "";
      while (!text.includes(": connected")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the SSE stream ended before it connected");
        text += decoder.decode(value);
      }
      const sseEnded = (async () => {
        for (;;) if ((await reader.read()).done) return true;
      })();

      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
        headers: { Authorization: `Bearer ${TEST_ADMIN_KEY}`, Origin: base },
      } as unknown as string[]);
      const wsClosed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
      await new Promise<void>((resolve, reject) => {
        ws.addEventListener("open", () => resolve());
        ws.addEventListener("error", () => reject(new Error("the WebSocket did not open")));
      });
      ws.send(JSON.stringify({ subscribe: {} }));

      const created = (await (
        await stack.request("POST", "/v1/tasks", { type: "echo", payload: { hello: "drain" } })
      ).json()) as Task;
      // A long poll through the proxy, held until the task completes on a node started after the signal.
      const poll = fetch(`${base}/v1/tasks/${created.id}?waitMs=20000`, { headers: auth });
      await Bun.sleep(300);
      monitor.proc.kill("SIGTERM");
      await monitor.logged("draining");

      expect(await sseEnded).toBe(true);
      expect(await wsClosed).toBe(1001);
      await stack.startNode({ types: ["echo"] });
      const answer = await poll;
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as Task).status).toBe("completed");
      expect(await monitor.exited).toBe(0);
      expect(await api.stop()).toBe(0);
    },
    { timeout: 60_000 },
  );
});
