import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { evictingNodes, masters, pingAll, projectRoot, queueName, SCHEDULES_QUEUE, scanKeys } from "@conveyor/core";
import { Cluster } from "ioredis";
import {
  childEnv,
  createTestStack,
  deletePrefix,
  eventually,
  freePort,
  type TestStack,
  testPrefix,
} from "../harness/index.ts";
import { attemptsOf, flakiness, getTask, submit, testCatalog, waitStatus } from "../lifecycle/support.ts";
import { openSse, type ServedMonitor, type SseClient, serveMonitor } from "../monitor/serve.ts";
import { type LocalCluster, startRedisCluster } from "./redis-cluster.ts";

// Types whose hash tags land on different masters of an evenly split three-master cluster
// ({echo} 14438, {sleep} 8039); the first test checks it on the cluster itself.
const SPREAD = ["echo", "sleep"] as const;

describe("Redis Cluster (three masters): the whole lifecycle", () => {
  let cluster: LocalCluster;
  let stack: TestStack;
  let served: ServedMonitor;
  const clients: SseClient[] = [];
  const procs: ReturnType<typeof Bun.spawn>[] = [];
  const procPrefix = testPrefix("cluster-proc");

  beforeAll(async () => {
    cluster = await startRedisCluster();
    stack = await createTestStack({ label: "cluster", clusterNodes: cluster.nodes, catalog: testCatalog() });
    await stack.startNode({ heartbeatMs: 1000 });
    served = await serveMonitor(stack);
  });
  afterAll(async () => {
    try {
      for (const c of clients) c.close();
      for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
      await served?.close();
      if (stack) await deletePrefix(procPrefix, stack.redis).catch(() => {});
      await stack?.close();
    } finally {
      // Whatever failed above, no redis-server outlives the suite.
      await cluster?.stop();
    }
  });

  /** Which masters (by port) hold keys under `pattern`, key by key. */
  const keysByMaster = async (pattern: string) => {
    const found = new Map<string, number>();
    for await (const { node, keys } of scanKeys(stack.runtime.redis, pattern)) {
      for (const key of keys) found.set(key, Number(node.options.port));
    }
    return found;
  };
  const masterPortOf = async (key: string) => cluster.ports[cluster.masterOf(await cluster.keySlot(key))];

  test("every connection is a Cluster; readiness and the noeviction check visit every master", async () => {
    expect(stack.runtime.redis).toBeInstanceOf(Cluster);
    const slots = await Promise.all(SPREAD.map((t) => cluster.keySlot(queueName(t))));
    expect(cluster.masterOf(slots[0] as number)).not.toBe(cluster.masterOf(slots[1] as number));

    expect(
      masters(stack.runtime.redis)
        .map((n) => Number(n.options.port))
        .sort(),
    ).toEqual([...cluster.ports].sort());
    await pingAll(stack.runtime.redis);
    expect(await evictingNodes(stack.runtime.redis)).toEqual([]);
    // One master of three evicting is found, whichever it is.
    const last = masters(stack.runtime.redis).find((n) => n.options.port === cluster.ports[2]);
    await last?.config("SET", "maxmemory-policy", "allkeys-lru");
    try {
      expect(await evictingNodes(stack.runtime.redis)).toEqual([`127.0.0.1:${cluster.ports[2]} (allkeys-lru)`]);
    } finally {
      await last?.config("SET", "maxmemory-policy", "noeviction");
    }
  });

  test("echo, sleep and a retried failing task run to their end; the monitor relays their events", async () => {
    const sse = await openSse(`${served.url}/events`, { authorization: "Bearer test-admin-key-0123456789" });
    clients.push(sse);
    expect(sse.status).toBe(200);

    const echo = await submit(stack, { type: "echo", payload: { hello: "cluster" } });
    const sleep = await submit(stack, { type: "sleep", payload: { ms: 300 } });
    flakiness.failing = true;
    const flaky = await submit(stack, {
      type: "flaky",
      payload: {},
      maxAttempts: 2,
      backoff: { strategy: "fixed", delayMs: 50 },
    });

    expect((await waitStatus(stack, echo.id, "completed")).result).toEqual({ hello: "cluster" });
    expect((await waitStatus(stack, sleep.id, "completed")).progress).toBe(100);
    const failed = await waitStatus(stack, flaky.id, "failed");
    expect(failed.attempts).toBe(2);
    expect((await attemptsOf(stack, flaky.id)).map((a) => a.outcome)).toEqual(["failed", "failed"]);

    // Live, through QueueEvents reading the `{events}` stream on its master.
    const statuses = (id: string) =>
      sse
        .tasks()
        .filter((t) => t.data.id === id)
        .map((t) => t.data.status);
    await eventually(() => statuses(echo.id).includes("completed"), { what: "echo completed on the SSE stream" });
    expect(statuses(echo.id)).toEqual(["queued", "running", "completed"]);
    await eventually(() => statuses(flaky.id).includes("failed"), { what: "flaky failed on the SSE stream" });

    // Replayed from the stream (XRANGE) after the first event's id, as a reconnecting client asks.
    const first = sse.tasks().find((t) => t.data.id === echo.id);
    const resumed = await openSse(`${served.url}/events`, {
      authorization: "Bearer test-admin-key-0123456789",
      "last-event-id": first?.id as string,
    });
    clients.push(resumed);
    await eventually(() => resumed.tasks().some((t) => t.data.id === flaky.id && t.data.status === "failed"), {
      what: "the replay to reach flaky's failure",
    });
    const replayed = resumed.tasks().filter((t) => t.data.id === echo.id);
    expect(replayed.map((t) => t.data.status)).toEqual(["running", "completed"]);
  });

  test("a running task is cancelled on its node through pub/sub on the cluster", async () => {
    const task = await submit(stack, { type: "sleep", payload: { ms: 20_000 } });
    await waitStatus(stack, task.id, "running");
    const res = await stack.request("POST", `/v1/tasks/${task.id}/cancel`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("cancelled");
    const attempt = await eventually(
      async () => {
        const [a] = await attemptsOf(stack, task.id);
        return a?.outcome === "cancelled" ? a : undefined;
      },
      { timeoutMs: 3000, what: "the running attempt to close as cancelled" },
    );
    expect(attempt.finishedAt).not.toBeNull();
  });

  test("queues' keys sit on more than one master; the reconciler puts back what the cluster lost", async () => {
    for (const type of SPREAD) expect((await stack.request("POST", `/v1/queues/${type}/pause`)).status).toBe(200);
    try {
      await lostAndFound();
    } finally {
      // Whatever failed, the later tests find both queues running.
      for (const type of SPREAD) await stack.request("POST", `/v1/queues/${type}/resume`);
    }
  });

  async function lostAndFound(): Promise<void> {
    const tasks = await Promise.all(
      [...SPREAD, ...SPREAD, ...SPREAD].map((type) =>
        submit(stack, { type, payload: type === "sleep" ? { ms: 1 } : { n: 1 } }).then((t) => ({ ...t, type })),
      ),
    );

    // Each queue's keys all on the master serving its hash tag's slot; the queues on two masters.
    const keys = await keysByMaster(`${stack.prefix}:*`);
    const holders = new Set<number>();
    for (const type of SPREAD) {
      const expected = await masterPortOf(queueName(type));
      const mine = [...keys].filter(([key]) => key.startsWith(`${stack.prefix}:${queueName(type)}:`));
      expect(mine.length).toBeGreaterThan(0);
      for (const [, port] of mine) expect(port).toBe(expected as number);
      for (const t of tasks.filter((x) => x.type === type)) {
        expect(keys.get(`${stack.prefix}:${queueName(type)}:${t.id}`)).toBe(expected as number);
      }
      holders.add(expected as number);
    }
    expect(holders.size).toBe(2);
    expect(keys.get(`${stack.prefix}:{events}:events`)).toBe((await masterPortOf("{events}")) as number);

    // The cluster forgets both queues (jobs, pause state, everything) on whichever master held them.
    for await (const { node, keys: lost } of scanKeys(stack.runtime.redis, `${stack.prefix}:{*}:*`)) {
      const pipeline = node.pipeline();
      for (const key of lost) if (!key.startsWith(`${stack.prefix}:{events}:`)) pipeline.unlink(key);
      await pipeline.exec();
    }
    const echoQueue = stack.runtime.dispatcher.queue("echo");
    expect(await echoQueue.isPaused()).toBe(false);
    expect([...(await keysByMaster(`${stack.prefix}:{echo}:*`)).keys()]).toEqual([]);

    const report = await stack.reconciler().runOnce();
    expect(report.errors).toEqual([]);
    expect(report.leader).toBe(true);
    expect(report.requeued).toBe(tasks.length);
    expect(report.paused.sort()).toEqual([...SPREAD].sort());
    expect(await echoQueue.isPaused()).toBe(true);
    expect(await stack.runtime.redis.get(`${stack.prefix}:reconciler:leader`)).not.toBeNull();
    for (const t of tasks) {
      expect(await stack.runtime.redis.exists(`${stack.prefix}:${queueName(t.type)}:${t.id}`)).toBe(1);
    }

    for (const type of SPREAD) expect((await stack.request("POST", `/v1/queues/${type}/resume`)).status).toBe(200);
    for (const t of tasks) await waitStatus(stack, t.id, "completed");
    for (const t of tasks) expect((await attemptsOf(stack, t.id)).map((a) => a.outcome)).toEqual(["completed"]);
  }

  test("a key's rate limit (a Lua script on one key's slot) holds on the cluster", async () => {
    const made = await stack.request("POST", "/v1/keys", {
      tenant: "acme",
      name: "limited",
      scopes: ["tasks:write"],
      rateLimit: { max: 2, durationMs: 60_000 },
    });
    expect(made.status).toBe(201);
    const { key } = (await made.json()) as { key: string };
    const post = () => stack.request("POST", "/v1/tasks", { type: "echo", payload: {} }, key);
    expect((await post()).status).toBe(202);
    expect((await post()).status).toBe(202);
    const refused = await post();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("a schedule ticks through the `{__schedules}` queue on its own master into ordinary tasks", async () => {
    const ticker = await stack.startTicker();
    try {
      const made = await stack.request("POST", "/v1/schedules", {
        name: "every second on the cluster",
        everyMs: 1000,
        task: { type: "echo", payload: { tick: true } },
      });
      expect(made.status).toBe(201);
      const { id } = (await made.json()) as { id: string };
      const run = await eventually(
        async () => {
          const res = await stack.request("GET", `/v1/tasks?scheduleId=${id}&status=completed`);
          const { tasks } = (await res.json()) as { tasks: { id: string; result: unknown }[] };
          return tasks[0];
        },
        { timeoutMs: 15_000, what: "a completed run of the schedule" },
      );
      expect(run.result).toEqual({ tick: true });
      const keys = await keysByMaster(`${stack.prefix}:${SCHEDULES_QUEUE}:*`);
      expect(keys.size).toBeGreaterThan(0);
      const expected = await masterPortOf(SCHEDULES_QUEUE);
      for (const port of keys.values()) expect(port).toBe(expected as number);
      expect((await stack.request("DELETE", `/v1/schedules/${id}`)).status).toBe(204);
    } finally {
      await ticker.close();
    }
  });

  test("a worker node's heartbeat key is on the cluster and the node is listed", async () => {
    const [node] = stack.nodes;
    const value = await stack.runtime.redis.get(`${stack.prefix}:node:${node?.id}`);
    expect(JSON.parse(value as string)).toMatchObject({ id: node?.id, pid: process.pid });
    const listed = (await (await stack.request("GET", "/v1/nodes")).json()) as {
      nodes: { id: string; status: string }[];
    };
    expect(listed.nodes.find((n) => n.id === node?.id)?.status).toBe("up");
  });

  test("real api and worker processes with REDIS_CLUSTER_NODES are ready and complete a task", async () => {
    const adminKey = `cluster-proc-key-${crypto.randomUUID()}`;
    const apiPort = freePort();
    const workerPort = freePort();
    const env = childEnv(
      {
        DATABASE_URL: stack.db.url,
        REDIS_CLUSTER_NODES: cluster.nodes.join(","),
        // A prefix of their own: only the worker process can run what the api process queues.
        QUEUE_PREFIX: procPrefix,
        ADMIN_API_KEY: adminKey,
        MIGRATE_ON_START: "false",
        API_PORT: String(apiPort),
        WORKER_PORT: String(workerPort),
        WORKER_TYPES: "echo",
        RECONCILE_INTERVAL_MS: "1000",
        SHUTDOWN_GRACE_MS: "1000",
        LOG_LEVEL: "error",
      },
      ["REDIS_URL"],
    );
    for (const app of ["api", "worker"]) {
      procs.push(
        Bun.spawn(["bun", `apps/${app}/src/index.ts`], {
          cwd: projectRoot(),
          env,
          stdout: "ignore",
          stderr: "inherit",
        }),
      );
    }
    for (const port of [apiPort, workerPort]) {
      await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, {
        timeoutMs: 30_000,
        intervalMs: 200,
        what: `/readyz on ${port}`,
      });
    }
    const auth = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
    const res = await fetch(`http://127.0.0.1:${apiPort}/v1/tasks`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ type: "echo", payload: { via: "processes" } }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const done = (await (
      await fetch(`http://127.0.0.1:${apiPort}/v1/tasks/${id}?waitMs=20000`, { headers: auth })
    ).json()) as {
      status: string;
      result: unknown;
      node: string;
    };
    expect(done.status).toBe("completed");
    expect(done.result).toEqual({ via: "processes" });
    expect(stack.nodes.map((n) => n.id)).not.toContain(done.node);
    expect((await getTask(stack, id)).status).toBe("completed");
    expect((await keysByMaster(`${procPrefix}:{echo}:*`)).size).toBeGreaterThan(0);

    for (const p of procs) p.kill("SIGTERM");
    expect(await Promise.all(procs.map((p) => p.exited))).toEqual([0, 0]);
  });

  test("a master down: readiness answers 503 until it is back (a ping to any one node would not see it)", async () => {
    const ready = async () => (await stack.request("GET", "/readyz", undefined, null)).status;
    expect(await ready()).toBe(200);
    // The nodes stop first: a BullMQ worker caught in a master's restart may not finish close()
    // (BullMQ reconnects its blocking cluster while closing; see endsWhenClosed in packages/core).
    await Promise.all(stack.nodes.map((n) => n.close(0)));
    await cluster.kill(2);
    await eventually(async () => (await ready()) === 503, { timeoutMs: 5000, what: "/readyz to answer 503" });
    for (let i = 0; i < 5; i++) expect(await ready()).toBe(503);
    await expect(pingAll(stack.runtime.redis)).rejects.toThrow();
    // The others notice (CLUSTERDOWN for the lost slots) before the master comes back.
    await cluster.failing(0);
    expect(await ready()).toBe(503);

    await cluster.restart(2);
    await cluster.healthy();
    await eventually(async () => (await ready()) === 200, { timeoutMs: 15_000, what: "/readyz to answer 200 again" });
    await pingAll(stack.runtime.redis);
    // The restarted master is empty; a task of a queue it serves is queued and run again.
    expect(cluster.masterOf(await cluster.keySlot(queueName("echo")))).toBe(2);
    await stack.startNode({ types: ["echo"] });
    const after = await submit(stack, { type: "echo", payload: { after: "restart" } });
    expect((await waitStatus(stack, after.id, "completed", 20_000)).result).toEqual({ after: "restart" });
  });
});
