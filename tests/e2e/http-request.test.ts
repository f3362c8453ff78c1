import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { builtInTypes, TaskCatalog } from "@conveyor/handlers";
import type { Server } from "bun";
import { createTestStack, eventually, type TestStack } from "../harness/index.ts";

type Task = { id: string; status: string; result: unknown; attempts: number; error: { code: string } | null };
type Attempt = { n: number; outcome: string; error: { code: string; message: string } | null };

describe("http_request end to end", () => {
  let stack: TestStack;
  let server: Server<undefined>;
  let hits = 0;

  beforeAll(async () => {
    // 500 on the first request, 200 with JSON afterwards.
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/flaky") {
          hits += 1;
          return hits === 1 ? new Response("warming up", { status: 500 }) : Response.json({ ok: true, hits });
        }
        return new Response("gone", { status: 404 });
      },
    });
    // As a process started with SSRF_ALLOW_HOSTS=localhost builds its catalog.
    const catalog = new TaskCatalog(builtInTypes({ ssrfAllowHosts: ["localhost"] }));
    stack = await createTestStack({ label: "http-request", catalog });
    await stack.startNode();
  });
  afterAll(async () => {
    await stack?.close();
    server?.stop(true);
  });

  async function waitFinal(id: string): Promise<Task> {
    return eventually(
      async () => {
        const t = (await (await stack.request("GET", `/v1/tasks/${id}`)).json()) as Task;
        return ["completed", "failed", "cancelled"].includes(t.status) ? t : undefined;
      },
      { what: `task ${id} to finish` },
    );
  }

  async function attempts(id: string): Promise<Attempt[]> {
    const res = await stack.request("GET", `/v1/tasks/${id}/attempts`);
    return ((await res.json()) as { attempts: Attempt[] }).attempts;
  }

  test("a 500 is retried and the next answer completes the task", async () => {
    const res = await stack.request("POST", "/v1/tasks", {
      type: "http_request",
      payload: { url: `http://localhost:${server.port}/flaky` },
      backoff: { strategy: "fixed", delayMs: 50 },
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as Task;
    const done = await waitFinal(id);
    expect(done.status).toBe("completed");
    expect(done.result).toMatchObject({ status: 200, body: { ok: true, hits: 2 } });
    expect(done.attempts).toBe(2);
    const list = await attempts(id);
    expect(list.map((a) => a.outcome)).toEqual(["failed", "completed"]);
    expect(list[0]?.error).toEqual({ code: "server_error", message: "500 Internal Server Error" });
  });

  test("an unexpected status fails at once, without another attempt", async () => {
    const res = await stack.request("POST", "/v1/tasks", {
      type: "http_request",
      payload: { url: `http://localhost:${server.port}/missing`, expectStatus: 200 },
      backoff: { strategy: "fixed", delayMs: 50 },
    });
    const { id } = (await res.json()) as Task;
    const done = await waitFinal(id);
    expect(done.status).toBe("failed");
    expect(done.error?.code).toBe("unexpected_status");
    expect((await attempts(id)).map((a) => a.outcome)).toEqual(["failed"]);
  });

  test("a literal forbidden address is refused at submit with a 400", async () => {
    const res = await stack.request("POST", "/v1/tasks", {
      type: "http_request",
      payload: { url: `http://127.0.0.1:${server.port}/flaky` },
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain("the destination is forbidden");
  });
});
