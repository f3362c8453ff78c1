import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, eventually, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { testCatalog } from "../lifecycle/support.ts";

type Task = { id: string; tenant: string; type: string; status: string; attempts: number };
type ErrorBody = { error: { code: string; message: string; details: unknown[] } };
type Summary = Record<"queued" | "delayed" | "running" | "completed" | "failed" | "cancelled", number>;

const TENANT_A = "tenant-a";
const TENANT_B = "tenant-b";

async function expectError(res: Response, status: number, code: string): Promise<ErrorBody> {
  const body = (await res.json()) as ErrorBody;
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
  expect(Object.keys(body.error).sort()).toEqual(["code", "details", "message"]);
  return body;
}

describe("tenant isolation and scopes", () => {
  let stack: TestStack;
  /** tasks:write keys of two tenants, and a tasks:read key of the first. */
  let a: string;
  let b: string;
  let aRead: string;

  const as = (key: string) => ({
    req: (method: string, path: string, body?: unknown) => stack.request(method, path, body, key),
    async submit(body: Record<string, unknown>): Promise<Task> {
      const res = await stack.request("POST", "/v1/tasks", body, key);
      if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as Task;
    },
    async get(id: string): Promise<Task> {
      const res = await stack.request("GET", `/v1/tasks/${id}`, undefined, key);
      if (res.status !== 200) throw new Error(`get answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as Task;
    },
  });

  async function makeKey(tenant: string, scopes: string[]): Promise<string> {
    const res = await stack.request("POST", "/v1/keys", { tenant, name: `${tenant} ${scopes.join(",")}`, scopes });
    expect(res.status).toBe(201);
    return ((await res.json()) as { key: string }).key;
  }

  const waitFinal = (key: string, id: string, status: string, attempts: number) =>
    eventually(
      async () => {
        const t = await as(key).get(id);
        return t.status === status && t.attempts === attempts ? t : undefined;
      },
      { timeoutMs: 15_000, what: `task ${id} to be ${status} after ${attempts} attempt(s)` },
    );

  beforeAll(async () => {
    stack = await createTestStack({ label: "tenants", catalog: testCatalog() });
    // Only `flaky` runs: echo tasks stay queued, so they can still be cancelled.
    await stack.startNode({ types: ["flaky"] });
    a = await makeKey(TENANT_A, ["tasks:write"]);
    b = await makeKey(TENANT_B, ["tasks:write"]);
    aRead = await makeKey(TENANT_A, ["tasks:read"]);
  });
  afterAll(() => stack?.close());

  test("each submission lands in its key's tenant", async () => {
    expect((await as(a).submit({ type: "echo", payload: 1 })).tenant).toBe(TENANT_A);
    expect((await as(b).submit({ type: "echo", payload: 1 })).tenant).toBe(TENANT_B);
  });

  test("another tenant's task is 404 on every task endpoint, the same 404 as an unknown id, and stays as it was", async () => {
    const theirs = await as(b).submit({ type: "echo", payload: { secret: "b's" } });
    const unknown = crypto.randomUUID();
    const calls: [string, (id: string) => string][] = [
      ["GET", (id) => `/v1/tasks/${id}`],
      ["GET", (id) => `/v1/tasks/${id}?waitMs=50`],
      ["GET", (id) => `/v1/tasks/${id}/attempts`],
      ["GET", (id) => `/v1/tasks/${id}/logs`],
      ["POST", (id) => `/v1/tasks/${id}/cancel`],
      ["POST", (id) => `/v1/tasks/${id}/retry`],
    ];
    for (const [method, path] of calls) {
      const refused = await expectError(await as(a).req(method, path(theirs.id)), 404, "not_found");
      const missing = await expectError(await as(a).req(method, path(unknown)), 404, "not_found");
      // Nothing tells "exists elsewhere" from "does not exist".
      expect(refused.error.message.replace(theirs.id, "ID")).toBe(missing.error.message.replace(unknown, "ID"));
      expect(JSON.stringify(refused)).not.toContain("b's");
    }
    const after = await as(b).get(theirs.id);
    expect(after).toMatchObject({ id: theirs.id, tenant: TENANT_B, status: "queued" });
    // The owner can do what the other tenant could not.
    expect((await as(b).req("GET", `/v1/tasks/${theirs.id}/attempts`)).status).toBe(200);
    expect((await as(b).req("GET", `/v1/tasks/${theirs.id}/logs`)).status).toBe(200);
    expect((await as(b).req("POST", `/v1/tasks/${theirs.id}/cancel`)).status).toBe(200);
  });

  test("list, search and summary see only the caller's tenant; the admin sees both", async () => {
    const marker = `marker-${crypto.randomUUID()}`;
    for (let i = 0; i < 2; i++) await as(a).submit({ type: "echo", payload: { marker, i } });
    const bTasks: Task[] = [];
    for (let i = 0; i < 3; i++) bTasks.push(await as(b).submit({ type: "echo", payload: { marker, i } }));

    const list = async (key: string, query: string) => {
      const res = await stack.request("GET", `/v1/tasks?${query}`, undefined, key);
      expect(res.status).toBe(200);
      return ((await res.json()) as { tasks: Task[] }).tasks;
    };
    const aFound = await list(a, `q=${marker}`);
    expect(aFound).toHaveLength(2);
    expect(aFound.every((t) => t.tenant === TENANT_A)).toBe(true);
    expect((await list(b, `q=${marker}`)).every((t) => t.tenant === TENANT_B)).toBe(true);
    expect(await list(b, `q=${marker}`)).toHaveLength(3);
    expect(await list(TEST_ADMIN_KEY, `q=${marker}`)).toHaveLength(5);
    // Searching for the other tenant's id finds nothing, with or without other filters.
    expect(await list(a, `q=${bTasks[0]?.id}`)).toEqual([]);
    expect(await list(a, `q=${marker}&status=queued&type=echo`)).toHaveLength(2);
    expect((await list(a, "limit=500")).every((t) => t.tenant === TENANT_A)).toBe(true);

    const summary = async (key: string) =>
      (await (await stack.request("GET", "/v1/tasks/summary", undefined, key)).json()) as Summary;
    const counts = async (tenant: string) => {
      const rows = await stack.runtime.pg.sql<{ status: keyof Summary; n: number }[]>`
        select status, count(*)::int as n from tasks where tenant = ${tenant} group by status`;
      const out: Summary = { queued: 0, delayed: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
      for (const r of rows) out[r.status] = r.n;
      return out;
    };
    expect(await summary(a)).toEqual(await counts(TENANT_A));
    expect(await summary(b)).toEqual(await counts(TENANT_B));
    expect(await summary(aRead)).toEqual(await counts(TENANT_A));
  });

  test("a batch lands in the caller's tenant; the other tenant cannot see its tasks", async () => {
    const res = await as(a).req("POST", "/v1/tasks/batch", {
      tasks: [
        { type: "echo", payload: 1 },
        { type: "echo", payload: 2 },
        { type: "flaky", payload: {}, delayMs: 3_600_000 },
      ],
    });
    expect(res.status).toBe(202);
    const { tasks } = (await res.json()) as { tasks: Task[] };
    expect(tasks.map((t) => t.tenant)).toEqual([TENANT_A, TENANT_A, TENANT_A]);
    const ids = tasks.map((t) => t.id);
    const rows = await stack.runtime.pg.sql<
      { tenant: string }[]
    >`select tenant from tasks where id = any(${ids}::uuid[])`;
    expect(rows.map((r) => r.tenant)).toEqual([TENANT_A, TENANT_A, TENANT_A]);
    for (const id of ids) await expectError(await as(b).req("GET", `/v1/tasks/${id}`), 404, "not_found");
  });

  test("the same idempotency key in two tenants makes two tasks; a replay finds only its own tenant's", async () => {
    const idempotencyKey = `shared-${crypto.randomUUID()}`;
    const body = { type: "echo", payload: { same: true }, idempotencyKey };
    const fromA = await as(a).req("POST", "/v1/tasks", body);
    const fromB = await as(b).req("POST", "/v1/tasks", body);
    expect([fromA.status, fromB.status]).toEqual([202, 202]);
    const taskA = (await fromA.json()) as Task;
    const taskB = (await fromB.json()) as Task;
    expect(taskA.id).not.toBe(taskB.id);
    expect([taskA.tenant, taskB.tenant]).toEqual([TENANT_A, TENANT_B]);

    const replayA = await as(a).req("POST", "/v1/tasks", body);
    expect(replayA.status).toBe(200);
    expect(((await replayA.json()) as Task).id).toBe(taskA.id);
    // A different body conflicts within B alone; A's task is untouched.
    await expectError(await as(b).req("POST", "/v1/tasks", { ...body, payload: { same: false } }), 409, "conflict");
    expect((await as(a).get(taskA.id)).status).toBe("queued");

    // In a batch too.
    const batchKey = `batch-${crypto.randomUUID()}`;
    const item = { type: "echo", payload: 7, idempotencyKey: batchKey };
    const [batchA, batchB] = await Promise.all(
      [a, b].map(async (key) => {
        const res = await as(key).req("POST", "/v1/tasks/batch", { tasks: [item] });
        expect(res.status).toBe(202);
        return ((await res.json()) as { tasks: Task[] }).tasks[0] as Task;
      }),
    );
    expect(batchA?.id).not.toBe(batchB?.id);
    const [row] = await stack.runtime.pg.sql<{ n: number }[]>`
      select count(*)::int as n from tasks where idempotency_key = ${batchKey}`;
    expect(row?.n).toBe(2);
  });

  test("bulk retry retries only the caller's failed tasks; single retry and cancel of the other's are 404", async () => {
    const mine = await as(a).submit({ type: "flaky", payload: { permanent: true } });
    const theirs = await as(b).submit({ type: "flaky", payload: { permanent: true } });
    await waitFinal(a, mine.id, "failed", 1);
    await waitFinal(b, theirs.id, "failed", 1);

    await expectError(await as(a).req("POST", `/v1/tasks/${theirs.id}/retry`), 404, "not_found");
    await expectError(await as(a).req("POST", `/v1/tasks/${theirs.id}/cancel`), 404, "not_found");

    const [aFailed] = await stack.runtime.pg.sql<{ n: number }[]>`
      select count(*)::int as n from tasks where tenant = ${TENANT_A} and status = 'failed' and type = 'flaky'`;
    const res = await as(a).req("POST", "/v1/tasks/retry", { type: "flaky" });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ retried: aFailed?.n ?? -1 });
    // A's ran again (and failed again); B's was never touched.
    await waitFinal(a, mine.id, "failed", 2);
    const after = await as(b).get(theirs.id);
    expect(after).toMatchObject({ status: "failed", attempts: 1 });

    // The same from B's side: only B's is retried.
    const again = await as(b).req("POST", "/v1/tasks/retry", { type: "flaky", code: "broken_for_good" });
    expect(await again.json()).toEqual({ retried: 1 });
    await waitFinal(b, theirs.id, "failed", 2);
    expect((await as(a).get(mine.id)).attempts).toBe(2);
  });

  test("a tasks:read key reads its tenant but cannot submit, cancel or retry (403), and changes nothing", async () => {
    const own = await as(a).submit({ type: "echo", payload: "for the reader" });
    expect((await as(aRead).get(own.id)).tenant).toBe(TENANT_A);
    for (const path of [`/v1/tasks/${own.id}/attempts`, `/v1/tasks/${own.id}/logs`, "/v1/tasks", "/v1/tasks/summary"]) {
      expect((await as(aRead).req("GET", path)).status).toBe(200);
    }
    expect((await as(aRead).req("GET", "/v1/task-types")).status).toBe(200);
    const refused: [string, string, unknown][] = [
      ["POST", "/v1/tasks", { type: "echo", payload: 1 }],
      ["POST", "/v1/tasks/batch", { tasks: [{ type: "echo", payload: 1 }] }],
      ["POST", `/v1/tasks/${own.id}/cancel`, undefined],
      ["POST", `/v1/tasks/${own.id}/retry`, undefined],
      ["POST", "/v1/tasks/retry", {}],
    ];
    for (const [method, path, body] of refused) {
      const err = await expectError(await as(aRead).req(method, path, body), 403, "forbidden");
      expect(err.error.message).toContain("tasks:write");
    }
    expect((await as(a).get(own.id)).status).toBe("queued");
    // Reading is limited to its tenant like writing.
    await expectError(
      await as(aRead).req("GET", `/v1/tasks/${(await as(b).submit({ type: "echo", payload: 0 })).id}`),
      404,
      "not_found",
    );
  });

  test("a tasks:write key can read", async () => {
    const own = await as(b).submit({ type: "echo", payload: "read me" });
    for (const path of [
      `/v1/tasks/${own.id}`,
      `/v1/tasks/${own.id}/attempts`,
      `/v1/tasks/${own.id}/logs`,
      "/v1/tasks",
      "/v1/tasks/summary",
      "/v1/task-types",
      "/v1/whoami",
    ]) {
      expect({ path, status: (await as(b).req("GET", path)).status }).toEqual({ path, status: 200 });
    }
  });

  test("non-admin keys get 403 on keys, queues, nodes and audit, and change nothing", async () => {
    const calls: [string, string, unknown][] = [
      ["GET", "/v1/keys", undefined],
      ["POST", "/v1/keys", { tenant: TENANT_A, name: "escalate", scopes: ["admin"] }],
      ["DELETE", `/v1/keys/${crypto.randomUUID()}`, undefined],
      ["GET", "/v1/queues", undefined],
      ["POST", "/v1/queues/echo/pause", undefined],
      ["POST", "/v1/queues/echo/resume", undefined],
      ["PATCH", "/v1/queues/echo", { concurrency: 1 }],
      ["GET", "/v1/nodes", undefined],
      ["GET", "/v1/audit", undefined],
    ];
    for (const key of [a, aRead]) {
      for (const [method, path, body] of calls) {
        const res = await stack.request(method, path, body, key);
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
        await expectError(res, 403, "forbidden");
      }
    }
    const queues = (await (await stack.request("GET", "/v1/queues")).json()) as {
      queues: { type: string; paused: boolean; concurrency: number | null }[];
    };
    expect(queues.queues.find((q) => q.type === "echo")).toMatchObject({ paused: false, concurrency: null });
    const { keys } = (await (await stack.request("GET", "/v1/keys")).json()) as { keys: { name: string }[] };
    expect(keys.some((k) => k.name === "escalate")).toBe(false);
  });

  test("an admin-scoped key sees every tenant's tasks, and submits into its own tenant", async () => {
    const admin = await makeKey("ops", ["admin"]);
    const theirs = await as(b).submit({ type: "echo", payload: "visible to admins" });
    expect((await as(admin).get(theirs.id)).tenant).toBe(TENANT_B);
    expect((await as(admin).submit({ type: "echo", payload: 1 })).tenant).toBe("ops");
  });
});
