import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { projectRoot } from "@conveyor/core";
import { childEnv, createTestStack, eventually, freePort, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { openRawSse, type RawSseClient } from "./raw-sse.ts";

const admin = { Authorization: `Bearer ${TEST_ADMIN_KEY}` };

/** Resident memory of a process, from /proc. */
function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line?.replace(/\D+/g, "") ?? 0) * 1024;
}

interface MonitorProcess {
  proc: ReturnType<typeof Bun.spawn>;
  port: number;
  url: string;
}

// Monitors as real processes (`bun apps/monitor/src/index.ts`), as they run in production: many
// listeners on one, replay on another, a revoked key's streams closed by each.
describe("monitor processes", () => {
  let stack: TestStack;
  let api: ReturnType<typeof Bun.serve>;
  const monitors: MonitorProcess[] = [];
  const clients: RawSseClient[] = [];

  const startMonitor = async (): Promise<MonitorProcess> => {
    const port = freePort();
    const env = childEnv({
      DATABASE_URL: stack.db.url,
      REDIS_URL: stack.redis.url,
      QUEUE_PREFIX: stack.prefix,
      MONITOR_PORT: String(port),
      API_URL: `http://127.0.0.1:${api.port}`,
      ADMIN_API_KEY: TEST_ADMIN_KEY,
      MIGRATE_ON_START: "false",
      LOG_LEVEL: "error",
    });
    const proc = Bun.spawn(["bun", "apps/monitor/src/index.ts"], {
      cwd: projectRoot(),
      env,
      stdout: "ignore",
      stderr: "inherit",
    });
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${url}/readyz`)).status === 200, {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: "the monitor process to be ready",
    });
    const m = { proc, port, url };
    monitors.push(m);
    return m;
  };

  const submitBatch = async (n: number, key = TEST_ADMIN_KEY) => {
    const res = await stack.request(
      "POST",
      "/v1/tasks/batch",
      { tasks: Array.from({ length: n }, (_, i) => ({ type: "echo", payload: i })) },
      key,
    );
    expect(res.status).toBe(202);
    return ((await res.json()) as { tasks: { id: string }[] }).tasks.map((t) => t.id);
  };

  beforeAll(async () => {
    stack = await createTestStack({ label: "monitor-procs" });
    await stack.startNode({ types: ["echo"] });
    api = Bun.serve({ port: 0, fetch: stack.app.fetch });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const m of monitors) {
      m.proc.kill("SIGTERM");
      const exited = await Promise.race([m.proc.exited, Bun.sleep(5000).then(() => null)]);
      if (exited === null) m.proc.kill("SIGKILL");
    }
    await api?.stop(true);
    await stack?.close();
  });

  test("500 concurrent SSE clients of one monitor process all receive every event, in the same order", async () => {
    const m = await startMonitor();
    const before = rssBytes(m.proc.pid);
    // Opened in waves so the accept queue never overflows on a small machine.
    for (let wave = 0; wave < 5; wave++) {
      clients.push(...(await Promise.all(Array.from({ length: 100 }, () => openRawSse(m.port, "/events", admin)))));
    }
    expect(clients).toHaveLength(500);
    expect(clients.every((c) => c.status() === 200)).toBe(true);

    const ids = await submitBatch(100);
    const wanted = new Set(ids);
    const seen = (c: RawSseClient) => c.tasks().filter((t) => wanted.has(t.data.id));
    await eventually(() => clients.every((c) => seen(c).filter((t) => t.data.status === "completed").length === 100), {
      timeoutMs: 45_000,
      intervalMs: 250,
      what: "every client to see all 100 tasks complete",
    });
    const reference = seen(clients[0] as RawSseClient).map((t) => t.id);
    expect(reference).toHaveLength(300);
    for (const c of clients) expect(seen(c).map((t) => t.id)).toEqual(reference);

    // Bounded: 500 streams and 300 events fanned out to each cost the process tens of MB, not hundreds.
    const grown = rssBytes(m.proc.pid) - before;
    console.log(`monitor process: rss ${(before / 1048576).toFixed(0)} MB -> +${(grown / 1048576).toFixed(1)} MB`);
    expect(grown).toBeLessThan(150 * 1048576);
    const metrics = await (await fetch(`${m.url}/metrics`)).text();
    expect(metrics).toMatch(/conveyor_monitor_clients\{kind="sse"\} 500\b/);
    for (const c of clients.splice(0)) c.close();
  }, 90_000);

  test("Last-Event-ID resumes on a second monitor process with the events after that id", async () => {
    const first = monitors[0] ?? (await startMonitor());
    const second = await startMonitor();
    const live = await openRawSse(first.port, "/events", admin);
    clients.push(live);
    const [a] = await submitBatch(1);
    await eventually(() => live.tasks().some((t) => t.data.id === a && t.data.status === "completed"), {
      what: "the first task to complete",
    });
    const mark = live.tasks().find((t) => t.data.id === a && t.data.status === "completed")?.id ?? "";
    const later = new Set(await submitBatch(3));
    await eventually(
      () => live.tasks().filter((t) => later.has(t.data.id) && t.data.status === "completed").length === 3,
      {
        what: "three later tasks to complete",
      },
    );
    const expected = live
      .tasks()
      .filter((t) => later.has(t.data.id))
      .map((t) => t.id);

    const resumed = await openRawSse(second.port, "/events", { ...admin, "Last-Event-ID": mark });
    clients.push(resumed);
    expect(resumed.status()).toBe(200);
    await eventually(() => resumed.tasks().filter((t) => later.has(t.data.id)).length === expected.length, {
      what: "the replay on the second process",
    });
    expect(resumed.tasks().some((t) => t.data.id === a)).toBe(false);
    expect(
      resumed
        .tasks()
        .filter((t) => later.has(t.data.id))
        .map((t) => t.id),
    ).toEqual(expected);
  });

  test("revoking a key closes its SSE and WebSocket streams on a monitor process within 5 s", async () => {
    const m = monitors[1] ?? (await startMonitor());
    const created = await stack.request("POST", "/v1/keys", {
      tenant: "acme",
      name: "revoked",
      scopes: ["tasks:read"],
    });
    expect(created.status).toBe(201);
    const { id, key } = (await created.json()) as { id: string; key: string };
    const sse = await openRawSse(m.port, "/events", { Authorization: `Bearer ${key}` });
    clients.push(sse);
    expect(sse.status()).toBe(200);
    const ws = new WebSocket(`ws://127.0.0.1:${m.port}/ws`, {
      headers: { Authorization: `Bearer ${key}`, Origin: m.url },
    } as unknown as string[]);
    let wsClosed = false;
    ws.addEventListener("close", () => {
      wsClosed = true;
    });
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      ws.addEventListener("error", () => reject(new Error("websocket did not open")));
    });
    ws.send(JSON.stringify({ subscribe: {} }));
    await Bun.sleep(300);
    expect(sse.ended()).toBe(false);
    expect(wsClosed).toBe(false);

    const revoked = await stack.request("DELETE", `/v1/keys/${id}`);
    expect(revoked.status).toBe(204);
    const at = Date.now();
    await eventually(() => sse.ended() && wsClosed, {
      timeoutMs: 5_000,
      intervalMs: 50,
      what: "both streams of the revoked key to close",
    });
    expect(Date.now() - at).toBeLessThanOrEqual(5_000);
    const again = await fetch(`${m.url}/events`, { headers: { authorization: `Bearer ${key}` } });
    expect(again.status).toBe(401);
  }, 30_000);
});
