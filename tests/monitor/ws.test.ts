import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, eventually, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";
import { type ServedMonitor, serveMonitor } from "./serve.ts";

type Frame = { event: string; id: string | null; data: { id?: string; status?: string; code?: string } };

describe("monitor: GET /ws (WebSocket)", () => {
  let stack: TestStack;
  let served: ServedMonitor;
  const sockets: WebSocket[] = [];

  const connect = async (headers: Record<string, string> = { authorization: `Bearer ${TEST_ADMIN_KEY}` }) => {
    const url = `${served.url.replace("http", "ws")}/ws`;
    // Bun's WebSocket client takes headers (a browser would send the cookie instead).
    const ws = new WebSocket(url, { headers } as unknown as string[]);
    sockets.push(ws);
    const frames: Frame[] = [];
    ws.addEventListener("message", (e) => frames.push(JSON.parse(String(e.data)) as Frame));
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      ws.addEventListener("error", () => reject(new Error("the WebSocket did not open")));
    });
    return { ws, frames };
  };
  const submit = async (payload: unknown) => {
    const res = await stack.request("POST", "/v1/tasks", { type: "echo", payload });
    return ((await res.json()) as { id: string }).id;
  };

  beforeAll(async () => {
    stack = await createTestStack({ label: "monitor-ws" });
    await stack.startNode({ types: ["echo"] });
    served = await serveMonitor(stack, { allowedOrigins: ["https://dash.example"] });
  });
  afterAll(async () => {
    for (const ws of sockets) ws.close();
    await served?.close();
    await stack?.close();
  });

  test("nothing before subscribe; task and metrics frames after it; a new subscribe replaces the filter", async () => {
    const { ws, frames } = await connect();
    const before = await submit("before");
    await Bun.sleep(1300);
    expect(frames).toEqual([]);

    ws.send(JSON.stringify({ subscribe: {} }));
    await Bun.sleep(50);
    const id = await submit("after");
    await eventually(
      () => frames.some((f) => f.event === "task" && f.data.id === id && f.data.status === "completed"),
      {
        what: "the completed frame",
      },
    );
    expect(frames.filter((f) => f.event === "task" && f.data.id === id).map((f) => f.data.status)).toEqual([
      "queued",
      "running",
      "completed",
    ]);
    expect(frames.some((f) => f.data.id === before)).toBe(false);
    const task = frames.find((f) => f.event === "task");
    expect(task?.id).toMatch(/^\d+-\d+$/);
    await eventually(() => frames.some((f) => f.event === "metrics"), { timeoutMs: 2500, what: "a metrics frame" });

    const other = await submit("other");
    ws.send(JSON.stringify({ subscribe: { taskId: other } }));
    await eventually(() => frames.some((f) => f.data.id === other && f.data.status === "completed"), {
      what: "the filtered task",
    });
    const ignored = await submit("ignored");
    await eventually(
      async () =>
        ((await (await stack.request("GET", `/v1/tasks/${ignored}`)).json()) as { status: string }).status ===
        "completed",
      { what: "the ignored task to complete" },
    );
    await Bun.sleep(200);
    expect(frames.filter((f) => f.event === "task" && f.data.id === ignored)).toEqual([]);
  });

  test("a bad frame gets an error frame", async () => {
    const { ws, frames } = await connect();
    ws.send("not json");
    ws.send(JSON.stringify({ subscribe: { type: 5 } }));
    ws.send(JSON.stringify({ hello: true }));
    await eventually(() => frames.filter((f) => f.event === "error").length === 3, { what: "three error frames" });
    for (const f of frames) expect(f).toMatchObject({ event: "error", data: { code: "validation_failed" } });
  });

  test("401 without auth, 403 for a foreign Origin, both before any upgrade", async () => {
    const upgrade = { upgrade: "websocket", connection: "Upgrade", "sec-websocket-version": "13" };
    const none = await served.monitor.app.request("/ws", { headers: upgrade });
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    const auth = { ...upgrade, authorization: `Bearer ${TEST_ADMIN_KEY}` };
    const foreign = await served.monitor.app.request("/ws", { headers: { ...auth, origin: "https://evil.example" } });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe("forbidden");

    // Over the network too: the upgrade is refused, so the socket never opens.
    await expect(connect({})).rejects.toThrow();
    await expect(
      connect({ authorization: `Bearer ${TEST_ADMIN_KEY}`, origin: "https://evil.example" }),
    ).rejects.toThrow();
    // The monitor's own host and the allowed origins may.
    const host = new URL(served.url).host;
    const own = await connect({ authorization: `Bearer ${TEST_ADMIN_KEY}`, origin: `http://${host}` });
    own.ws.close();
    const allowed = await connect({ authorization: `Bearer ${TEST_ADMIN_KEY}`, origin: "https://dash.example" });
    allowed.ws.close();
  });
});
