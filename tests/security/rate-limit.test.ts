import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Authenticator, apiDepsFromRuntime, createApp, RedisRateLimiter } from "@conveyor/api";
import {
  createLogger,
  createRedis,
  type Logger,
  type Principal,
  RateLimitedError,
  type RedisClient,
  waitReady,
} from "@conveyor/core";
import { createRuntime, type Runtime } from "@conveyor/scheduler";
import {
  childEnv,
  createTestDatabase,
  createTestStack,
  deletePrefix,
  eventually,
  freePort,
  TEST_ADMIN_KEY,
  type TestDatabase,
  type TestStack,
  testPrefix,
  testServices,
} from "../harness/index.ts";

const log = createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent");
const LIMIT = { max: 10, durationMs: 2000 };

const echo = (n: number) => ({ type: "echo", payload: { n } });

/** A principal with a key of its own (a fresh window) and the given limit. */
function limitedKey(rateLimit: Principal["rateLimit"], tenant = "acme"): Principal {
  return { tenant, name: "limited", scopes: ["tasks:write"], keyId: crypto.randomUUID(), rateLimit };
}

function post(app: { request: (path: string, init: RequestInit) => Response | Promise<Response> }, token: string) {
  return (path: string, body: unknown) =>
    Promise.resolve(
      app.request(path, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    );
}

const statuses = (responses: Response[]) => responses.map((r) => r.status).sort();

describe("the limiter alone: two connections, as two processes have", () => {
  const prefix = testPrefix("ratelimit-lua");
  let a: RedisClient;
  let b: RedisClient;

  beforeAll(async () => {
    const { redisUrl } = await testServices();
    a = createRedis({ url: redisUrl, clusterNodes: [] }, "producer", "test-limiter-a");
    b = createRedis({ url: redisUrl, clusterNodes: [] }, "producer", "test-limiter-b");
    await Promise.all([waitReady(a), waitReady(b)]);
  });
  afterAll(async () => {
    a?.disconnect();
    b?.disconnect();
    await deletePrefix(prefix);
  });

  test("12 concurrent checks against max 10: exactly 10 granted, the others told when to retry", async () => {
    const [la, lb] = [new RedisRateLimiter(a, prefix, log), new RedisRateLimiter(b, prefix, log)];
    const key = limitedKey(LIMIT);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? la : lb).consume(key, 1)),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(10);
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason] : []));
    expect(refused).toHaveLength(2);
    for (const err of refused) {
      expect(err).toBeInstanceOf(RateLimitedError);
      expect((err as RateLimitedError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect((err as RateLimitedError).retryAfterSeconds).toBeLessThanOrEqual(2);
    }
    // One sorted set per key, holding one member per granted task, expiring with the window.
    const zkey = `${prefix}:ratelimit:${key.keyId}`;
    expect(await a.zcard(zkey)).toBe(10);
    const ttl = await a.pttl(zkey);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(LIMIT.durationMs);
  });

  test("a refund gives back exactly what was spent", async () => {
    const limiter = new RedisRateLimiter(a, prefix, log);
    const key = limitedKey({ max: 3, durationMs: 60_000 });
    const spent = await limiter.consume(key, 3);
    await expect(limiter.consume(key, 1)).rejects.toBeInstanceOf(RateLimitedError);
    await spent.refund();
    await limiter.consume(key, 3);
  });

  test("keys without a limit, and the bootstrap admin (no key id), are never counted", async () => {
    const limiter = new RedisRateLimiter(a, prefix, log);
    const unlimited = limitedKey(null);
    const admin: Principal = { tenant: "default", name: "bootstrap admin", scopes: ["admin"], keyId: null };
    for (let i = 0; i < 20; i++) {
      await limiter.consume(unlimited, 100);
      await limiter.consume({ ...admin, rateLimit: { max: 1, durationMs: 60_000 } }, 100);
    }
    expect(await a.exists(`${prefix}:ratelimit:${unlimited.keyId}`)).toBe(0);
  });

  test("when Redis does not answer, submissions go through (fail open) and a warning is logged once", async () => {
    const down = createRedis({ url: `redis://127.0.0.1:${freePort()}`, clusterNodes: [] }, "producer", "test-down");
    down.on("error", () => {});
    const warnings: unknown[] = [];
    const spy = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Logger;
    try {
      const limiter = new RedisRateLimiter(down, prefix, spy);
      const key = limitedKey({ max: 1, durationMs: 60_000 });
      for (let i = 0; i < 5; i++) await limiter.consume(key, 1);
      expect(warnings).toHaveLength(1);
    } finally {
      down.disconnect();
    }
  });
});

/**
 * Two apps over two runtimes (their own Redis connections and PostgreSQL pools) on one database
 * and prefix: what two API processes are, without needing stored keys to name a limited caller.
 */
describe("POST /v1/tasks and /v1/tasks/batch across two API instances", () => {
  let stack: TestStack;
  let second: Runtime;
  const principals = new Map<string, Principal>();
  const auth: Authenticator = { authenticate: async (token) => principals.get(token) ?? null };
  const apps: ReturnType<typeof createApp>[] = [];

  /** A token for a fresh limited key. */
  function token(rateLimit: Principal["rateLimit"]): string {
    const t = `token-${crypto.randomUUID()}`;
    principals.set(t, limitedKey(rateLimit));
    return t;
  }

  beforeAll(async () => {
    stack = await createTestStack({ label: "ratelimit" });
    second = createRuntime({
      databaseUrl: stack.db.url,
      redis: stack.redis,
      queuePrefix: stack.prefix,
      log,
      appName: "t",
    });
    await Promise.all([waitReady(stack.runtime.redis), waitReady(second.redis)]);
    for (const runtime of [stack.runtime, second]) {
      apps.push(
        createApp({ ...apiDepsFromRuntime(runtime, { adminKey: TEST_ADMIN_KEY, log, maxBodyBytes: 1_048_576 }), auth }),
      );
    }
  });
  afterAll(async () => {
    await second?.close();
    await stack?.close();
  });

  test("6 submissions to each with max 10 per 2 s: 10 accepted, 2 refused with 429 and Retry-After", async () => {
    const t = token(LIMIT);
    const [a, b] = apps.map((app) => post(app, t)) as [ReturnType<typeof post>, ReturnType<typeof post>];
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b)("/v1/tasks", echo(i))),
    );
    expect(statuses(responses)).toEqual([...Array(10).fill(202), 429, 429]);
    const refused = responses.filter((r) => r.status === 429);
    for (const r of refused) {
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      const body = (await r.json()) as { error: { code: string; details: unknown[] } };
      expect(body.error.code).toBe("rate_limited");
      expect(body.error.details).toEqual([]);
    }
    // Once the window has slid past the oldest submissions, the key submits again.
    const wait = Math.max(...refused.map((r) => Number(r.headers.get("retry-after"))));
    await Bun.sleep(wait * 1000);
    expect((await a("/v1/tasks", echo(99))).status).toBe(202);
  });

  test("a batch costs one per task: 5 when 3 are left is refused and costs nothing, then 3 pass", async () => {
    const t = token({ max: 10, durationMs: 30_000 });
    const [a, b] = apps.map((app) => post(app, t)) as [ReturnType<typeof post>, ReturnType<typeof post>];
    expect((await a("/v1/tasks/batch", { tasks: [1, 2, 3, 4].map(echo) })).status).toBe(202);
    expect((await b("/v1/tasks/batch", { tasks: [5, 6, 7].map(echo) })).status).toBe(202);
    const five = await a("/v1/tasks/batch", { tasks: [1, 2, 3, 4, 5].map(echo) });
    expect(five.status).toBe(429);
    expect(Number(five.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const three = await b("/v1/tasks/batch", { tasks: [1, 2, 3].map(echo) });
    expect(three.status).toBe(202);
    expect(((await three.json()) as { tasks: unknown[] }).tasks).toHaveLength(3);
    expect((await a("/v1/tasks", echo(11))).status).toBe(429);
  });

  test("a batch larger than the whole window is refused with a message saying so", async () => {
    const t = token({ max: 3, durationMs: 5000 });
    const res = await post(apps[0] as ReturnType<typeof createApp>, t)("/v1/tasks/batch", {
      tasks: [1, 2, 3, 4].map(echo),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("smaller batches");
    // And it spent nothing.
    expect(
      (await post(apps[1] as ReturnType<typeof createApp>, t)("/v1/tasks/batch", { tasks: [1, 2, 3].map(echo) }))
        .status,
    ).toBe(202);
  });

  test("submissions refused for other reasons cost nothing (bad body, unknown type, idempotency conflict)", async () => {
    const t = token({ max: 2, durationMs: 30_000 });
    const a = post(apps[0] as ReturnType<typeof createApp>, t);
    for (let i = 0; i < 3; i++) {
      expect((await a("/v1/tasks", { type: "echo", payload: 1, priority: "urgent" })).status).toBe(400);
      expect((await a("/v1/tasks", { type: "no_such_type", payload: 1 })).status).toBe(404);
      expect((await a("/v1/tasks/batch", { tasks: [{ type: "no_such_type", payload: 1 }] })).status).toBe(400);
    }
    expect((await a("/v1/tasks", { ...echo(1), idempotencyKey: "k" })).status).toBe(202);
    expect((await a("/v1/tasks", { ...echo(2), idempotencyKey: "k" })).status).toBe(409);
    expect((await a("/v1/tasks", echo(3))).status).toBe(202);
    expect((await a("/v1/tasks", echo(4))).status).toBe(429);
  });

  test("a key without a limit is not limited", async () => {
    const t = token(null);
    const a = post(apps[0] as ReturnType<typeof createApp>, t);
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => a("/v1/tasks", echo(i))));
    expect(new Set(statuses(responses))).toEqual(new Set([202]));
  });
});

interface ApiProcess {
  url: string;
  proc: ReturnType<typeof Bun.spawn>;
}

/** `bun apps/api/src/index.ts` as a container runs it, on the suite's database and prefix. */
async function startApi(databaseUrl: string, prefix: string): Promise<ApiProcess> {
  const { redisUrl } = await testServices();
  const port = freePort();
  const env = childEnv({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    API_PORT: String(port),
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    MIGRATE_ON_START: "false",
    LOG_LEVEL: "warn",
  });
  const proc = Bun.spawn(["bun", "apps/api/src/index.ts"], { env, stdout: "ignore", stderr: "inherit" });
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      if (proc.exitCode !== null) throw new Error(`the api exited with ${proc.exitCode}`);
      return (await fetch(`${url}/readyz`)).ok;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `the api on port ${port}` },
  );
  return { url, proc };
}

async function stopApi(api: ApiProcess | undefined): Promise<void> {
  if (!api || api.proc.exitCode !== null) return;
  api.proc.kill("SIGTERM");
  await Promise.race([api.proc.exited, Bun.sleep(10_000)]);
  if (api.proc.exitCode === null) api.proc.kill("SIGKILL");
}

describe("two real API processes share each key's window", () => {
  let db: TestDatabase;
  const prefix = testPrefix("ratelimit-procs");
  let apis: ApiProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase("ratelimit_procs");
    apis = await Promise.all([startApi(db.url, prefix), startApi(db.url, prefix)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(apis.map(stopApi));
    await deletePrefix(prefix);
    await db?.drop();
  });

  /** Makes a stored key with `rateLimit` through process A; answers its secret. */
  async function createKey(rateLimit: { max: number; durationMs: number }): Promise<string> {
    const res = await fetch(`${apis[0]?.url}/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ tenant: "acme", name: "limited", scopes: ["tasks:write"], rateLimit }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { key: string }).key;
  }

  const submit = (api: ApiProcess, key: string, path: string, body: unknown) =>
    fetch(`${api.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  test("6 + 6 submissions with max 10 per 2 s: exactly 10 accepted; the window slides on", async () => {
    const key = await createKey(LIMIT);
    const [a, b] = apis as [ApiProcess, ApiProcess];
    // Authenticate once on each process first, so the burst below is not slowed by key look-ups.
    for (const api of apis)
      expect((await fetch(`${api.url}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => submit(i % 2 === 0 ? a : b, key, "/v1/tasks", echo(i))),
    );
    expect(statuses(responses)).toEqual([...Array(10).fill(202), 429, 429]);
    const refused = responses.filter((r) => r.status === 429);
    for (const r of refused) expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const wait = Math.max(...refused.map((r) => Number(r.headers.get("retry-after"))));
    await Bun.sleep(wait * 1000);
    expect((await submit(b, key, "/v1/tasks", echo(99))).status).toBe(202);
  });

  test("a batch of 5 when 3 are left: 429 and nothing spent; then a batch of 3 passes", async () => {
    const key = await createKey({ max: 10, durationMs: 30_000 });
    const [a, b] = apis as [ApiProcess, ApiProcess];
    expect((await submit(a, key, "/v1/tasks/batch", { tasks: [1, 2, 3, 4].map(echo) })).status).toBe(202);
    expect((await submit(b, key, "/v1/tasks/batch", { tasks: [5, 6, 7].map(echo) })).status).toBe(202);
    const five = await submit(a, key, "/v1/tasks/batch", { tasks: [1, 2, 3, 4, 5].map(echo) });
    expect(five.status).toBe(429);
    expect(Number(five.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await submit(b, key, "/v1/tasks/batch", { tasks: [1, 2, 3].map(echo) })).status).toBe(202);
    expect((await submit(a, key, "/v1/tasks", echo(0))).status).toBe(429);
  });
});
