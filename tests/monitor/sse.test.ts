import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, eventually, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { openSse, type ServedMonitor, type SseClient, serveMonitor } from "./serve.ts";

const admin = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

describe("monitor: GET /events (SSE)", () => {
  let stack: TestStack;
  let served: ServedMonitor;
  const clients: SseClient[] = [];
  const open = async (path: string, headers: Record<string, string> = admin) => {
    const c = await openSse(`${served.url}${path}`, headers);
    clients.push(c);
    return c;
  };
  const submit = async (type: string, payload: unknown, key = TEST_ADMIN_KEY) => {
    const res = await stack.request("POST", "/v1/tasks", { type, payload }, key);
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  const statusesOf = (c: SseClient, id: string) =>
    c
      .tasks()
      .filter((t) => t.data.id === id)
      .map((t) => t.data.status);
  const completed = (c: SseClient, id: string) =>
    eventually(() => statusesOf(c, id).includes("completed"), { what: `task ${id} completed on the stream` });

  beforeAll(async () => {
    stack = await createTestStack({ label: "monitor-sse" });
    await stack.startNode({ types: ["echo", "sleep"] });
    served = await serveMonitor(stack);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await served?.close();
    await stack?.close();
  });

  test("401 in the error shape without a key or session", async () => {
    const res = await fetch(`${served.url}/events`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    const bad = await fetch(`${served.url}/events`, { headers: { authorization: "Bearer nope" } });
    expect(bad.status).toBe(401);
  });

  test("a client receives queued, running, completed for a task, in order, with stream ids", async () => {
    const c = await open("/events");
    expect(c.status).toBe(200);
    const id = await submit("echo", { hi: 1 });
    await completed(c, id);
    const mine = c.tasks().filter((t) => t.data.id === id);
    expect(mine.map((t) => t.data.status)).toEqual(["queued", "running", "completed"]);
    const ids = mine.map((t) => t.id);
    for (const sid of ids) expect(sid).toMatch(/^\d+-\d+$/);
    expect([...ids].sort()).toEqual(ids);
    expect(mine[2]?.data).toMatchObject({ tenant: "default", type: "echo", progress: 100, attempt: 1 });
  });

  test("filters by taskId and by type", async () => {
    const first = await submit("echo", 1);
    const byTask = await open(`/events?taskId=${first}`);
    const byType = await open("/events?type=sleep");
    const all = await open("/events");
    const echoId = await submit("echo", 2);
    const sleepId = await submit("sleep", { ms: 10 });
    const again = await submit("echo", 3);
    await Promise.all([completed(all, echoId), completed(all, sleepId), completed(all, again)]);
    // Fan-out keeps stream order: once a later sleep task is seen, everything before it was filtered.
    const sentinel = await submit("sleep", { ms: 1 });
    await completed(byType, sentinel);
    expect(byType.tasks().every((t) => t.data.type === "sleep")).toBe(true);
    expect(statusesOf(byType, echoId)).toEqual([]);
    expect(byTask.tasks().every((t) => t.data.id === first)).toBe(true);
    const bad = await fetch(`${served.url}/events?type=`, { headers: admin });
    expect(bad.status).toBe(400);
  });

  test("a tenant's key sees only its tenant's events; the admin sees every tenant", async () => {
    const created = await stack.request("POST", "/v1/keys", { tenant: "acme", name: "acme", scopes: ["tasks:write"] });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };
    const tenantClient = await open("/events", { authorization: `Bearer ${key}` });
    const adminClient = await open("/events");
    const acmeTask = await submit("echo", "acme", key);
    const defaultTask = await submit("echo", "default");
    await Promise.all([completed(adminClient, acmeTask), completed(adminClient, defaultTask)]);
    // Fan-out keeps stream order: once a later acme task is seen, the default one was filtered out.
    const sentinel = await submit("echo", "later", key);
    await completed(tenantClient, sentinel);
    expect(statusesOf(tenantClient, defaultTask)).toEqual([]);
    expect(tenantClient.tasks().every((t) => t.data.tenant === "acme")).toBe(true);
  });

  test("a session cookie authenticates too (logged in through the proxied /v1/sessions)", async () => {
    const login = await fetch(`${served.url}/v1/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ apiKey: TEST_ADMIN_KEY }),
    });
    expect(login.status).toBe(204);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    expect(cookie).toStartWith("conveyor_session=");
    const c = await open("/events", { cookie });
    expect(c.status).toBe(200);
    const id = await submit("echo", "cookie");
    await completed(c, id);
  });

  test("Last-Event-ID replays, on a second monitor instance, the events after that id", async () => {
    const c = await open("/events");
    const a = await submit("echo", "a");
    await completed(c, a);
    const mark = c.tasks().find((t) => t.data.id === a && t.data.status === "completed")?.id ?? "";
    const b = await submit("echo", "b");
    const d = await submit("echo", "d");
    await Promise.all([completed(c, b), completed(c, d)]);
    const expected = c
      .tasks()
      .filter((t) => t.data.id === b || t.data.id === d)
      .map((t) => t.id);

    const second = await serveMonitor(stack);
    try {
      const resumed = await openSse(`${second.url}/events`, { ...admin, "last-event-id": mark });
      clients.push(resumed);
      await eventually(
        () => statusesOf(resumed, d).includes("completed") && statusesOf(resumed, b).includes("completed"),
        {
          what: "the replay",
        },
      );
      const got = resumed.tasks();
      expect(got.some((t) => t.data.id === a)).toBe(false);
      expect(got.filter((t) => t.data.id === b || t.data.id === d).map((t) => t.id)).toEqual(expected);
      // Ids keep increasing across the replay and the live tail.
      const ids = got.map((t) => t.id);
      expect(new Set(ids).size).toBe(ids.length);
      // The replay is followed by live events.
      const e = await submit("echo", "e");
      await completed(resumed, e);
      const bad = await fetch(`${second.url}/events`, { headers: { ...admin, "last-event-id": "not-an-id" } });
      expect(bad.status).toBe(400);
    } finally {
      await second.close();
    }
  });

  test("a metrics event (no id) arrives within about 2 s, with the contract's fields", async () => {
    const c = await open("/events");
    const m = await eventually(() => c.events.find((e) => e.event === "metrics"), {
      timeoutMs: 2500,
      what: "a metrics event",
    });
    expect(m.id).toBeUndefined();
    expect(Object.keys(JSON.parse(m.data)).sort()).toEqual(
      ["activeNodes", "pending", "running", "runTimeMs", "successRate", "throughputPerSec", "waitTimeMs"].sort(),
    );
  });

  test("closing the monitor ends its streams", async () => {
    const other = await serveMonitor(stack);
    const c = await openSse(`${other.url}/events`, admin);
    clients.push(c);
    await other.close();
    await eventually(() => c.ended(), { what: "the stream to end" });
  });
});
