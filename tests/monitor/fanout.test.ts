import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { createTestStack, eventually, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { openSse, type ServedMonitor, type SseClient, serveMonitor } from "./serve.ts";

const admin = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

describe("monitor: many listeners, proxy and /metrics", () => {
  let stack: TestStack;
  let served: ServedMonitor;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    stack = await createTestStack({ label: "monitor-fanout" });
    await stack.startNode({ types: ["echo"] });
    served = await serveMonitor(stack);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await served?.close();
    await stack?.close();
  });

  test("200 concurrent SSE clients all receive every event of a 20-task batch", async () => {
    clients.push(...(await Promise.all(Array.from({ length: 200 }, () => openSse(`${served.url}/events`, admin)))));
    expect(clients.every((c) => c.status === 200)).toBe(true);
    const res = await stack.request("POST", "/v1/tasks/batch", {
      tasks: Array.from({ length: 20 }, (_, i) => ({ type: "echo", payload: i })),
    });
    const ids = ((await res.json()) as { tasks: { id: string }[] }).tasks.map((t) => t.id);
    expect(ids).toHaveLength(20);
    const wanted = new Set(ids);
    const done = (c: SseClient) =>
      c.tasks().filter((t) => wanted.has(t.data.id) && t.data.status === "completed").length;
    await eventually(() => clients.every((c) => done(c) === 20), {
      timeoutMs: 20_000,
      what: "every client to see 60 events",
    });
    const reference =
      clients[0]
        ?.tasks()
        .filter((t) => wanted.has(t.data.id))
        .map((t) => t.id) ?? [];
    expect(reference).toHaveLength(60);
    for (const c of clients) {
      expect(
        c
          .tasks()
          .filter((t) => wanted.has(t.data.id))
          .map((t) => t.id),
      ).toEqual(reference);
    }
  });

  test("/metrics parses as Prometheus text with the client gauge and event counter", async () => {
    const res = await fetch(`${served.url}/metrics`);
    expect(res.status).toBe(200);
    const families = parsePrometheusTextFormat(await res.text());
    const clientsGauge = families.find((f) => f.name === "conveyor_monitor_clients");
    expect(clientsGauge?.type).toBe("GAUGE");
    const sse = clientsGauge?.metrics.find((m) => m.labels?.kind === "sse");
    expect(Number((sse as { value: string } | undefined)?.value)).toBeGreaterThanOrEqual(200);
    const events = families.find((f) => f.name === "conveyor_monitor_events_total");
    expect(events?.type).toBe("COUNTER");
    expect(Number((events?.metrics[0] as { value: string }).value)).toBeGreaterThanOrEqual(60);
  });

  test("/v1/* is proxied to the API with its headers; health and ready answer; / is a page", async () => {
    const who = await fetch(`${served.url}/v1/whoami`, { headers: admin });
    expect(who.status).toBe(200);
    expect(await who.json()).toMatchObject({ tenant: "default", scopes: ["admin"] });
    const posted = await fetch(`${served.url}/v1/tasks`, {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      body: JSON.stringify({ type: "echo", payload: { via: "monitor" } }),
    });
    expect(posted.status).toBe(202);
    const denied = await fetch(`${served.url}/v1/whoami`);
    expect(denied.status).toBe(401);
    expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${served.url}/readyz`)).status).toBe(200);
    const page = await fetch(`${served.url}/`);
    expect(page.headers.get("content-type")).toContain("text/html");
  });

  test("a down API is a 503 in the error shape", async () => {
    const down = await serveMonitor(stack, { apiUrl: "http://127.0.0.1:1" });
    try {
      const res = await fetch(`${down.url}/v1/whoami`, { headers: admin });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unavailable");
    } finally {
      await down.close();
    }
  });

  test("a client whose queue overflows is dropped", async () => {
    const tiny = await serveMonitor(stack, { clientQueueLimit: 1 });
    try {
      // A client that never reads: its queue fills once the socket buffers do; a tiny limit shows the drop.
      const c = await openSse(`${tiny.url}/events`, admin);
      clients.push(c);
      await stack.request("POST", "/v1/tasks/batch", {
        tasks: Array.from({ length: 50 }, (_, i) => ({ type: "echo", payload: i })),
      });
      await eventually(() => c.ended(), { what: "the slow client to be dropped" });
    } finally {
      await tiny.close();
    }
  });
});
