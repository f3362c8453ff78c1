import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminKeyAuthenticator, createApp } from "@conveyor/api";
import { createLogger, waitReady } from "@conveyor/core";
import { createRuntime, type Runtime } from "@conveyor/scheduler";
import { createTestDatabase, freePort, type TestDatabase, testPrefix, testServices } from "../harness/index.ts";

const KEY = "outage-test-key-0123456789";
const log = createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent");

function appOver(runtime: Runtime) {
  return createApp({
    scheduler: runtime.scheduler,
    queues: runtime.queues,
    catalog: runtime.catalog,
    nodes: runtime.nodes,
    auth: adminKeyAuthenticator(KEY),
    log,
    maxBodyBytes: 1_048_576,
    checks: {
      postgres: async () => void (await runtime.pg.sql`select 1`),
      redis: async () => void (await runtime.redis.ping()),
    },
  });
}

const submit = (app: ReturnType<typeof createApp>) =>
  app.request("/v1/tasks", {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "echo", payload: { kept: true } }),
  });

describe("when Redis is down at submit", () => {
  let db: TestDatabase;
  let runtime: Runtime;
  beforeAll(async () => {
    db = await createTestDatabase("redisdown");
    runtime = createRuntime({
      databaseUrl: db.url,
      redis: { url: `redis://127.0.0.1:${freePort()}`, clusterNodes: [] },
      queuePrefix: testPrefix("redisdown"),
      log,
      appName: "test-redisdown",
    });
  });
  afterAll(async () => {
    await runtime?.close();
    await db?.drop();
  });

  test("the row is written and the answer is still 202, at once", async () => {
    const started = performance.now();
    const res = await submit(appOver(runtime));
    expect(res.status).toBe(202);
    expect(performance.now() - started).toBeLessThan(2000);
    const task = (await res.json()) as { id: string; status: string };
    expect(task.status).toBe("queued");
    const [row] = await runtime.pg.sql<{ status: string }[]>`select status from tasks where id = ${task.id}`;
    expect(row?.status).toBe("queued");
  });

  test("readiness says Redis is unavailable", async () => {
    const res = await appOver(runtime).request("/readyz");
    expect(res.status).toBe(503);
    expect(((await res.json()) as { checks: Record<string, string> }).checks).toEqual({
      postgres: "ok",
      redis: "unavailable",
    });
  });
});

describe("when PostgreSQL is down at submit", () => {
  let runtime: Runtime;
  beforeAll(async () => {
    const { redisUrl } = await testServices();
    runtime = createRuntime({
      databaseUrl: `postgres://postgres@127.0.0.1:${freePort()}/nothing`,
      redis: { url: redisUrl, clusterNodes: [] },
      queuePrefix: testPrefix("pgdown"),
      log,
      appName: "test-pgdown",
    });
    await waitReady(runtime.redis);
  });
  afterAll(() => runtime?.close());

  test("the answer is 503 unavailable in the contract's shape, and nothing is dispatched", async () => {
    const res = await submit(appOver(runtime));
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string; message: string; details: unknown[] } };
    expect(body.error.code).toBe("unavailable");
    expect(body.error.details).toEqual([]);
    const counts = await runtime.dispatcher.counts("echo");
    expect((counts.wait ?? 0) + (counts.prioritized ?? 0)).toBe(0);
  });
});
