import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { apiDepsFromRuntime, createApp } from "@conveyor/api";
import { createLogger } from "@conveyor/core";
import type { AuditLog } from "@conveyor/db";
import { createTestStack, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";

interface Entry {
  at: string;
  keyId: string | null;
  tenant: string;
  action: string;
  target: string | null;
}
interface Page {
  entries: Entry[];
  nextCursor: string | null;
}
interface Key {
  id: string;
  key: string;
}

describe("the audit trail", () => {
  let stack: TestStack;
  let writer: Key;
  let operator: Key;

  async function createKey(body: unknown): Promise<Key> {
    const res = await stack.request("POST", "/v1/keys", body);
    expect(res.status).toBe(201);
    return (await res.json()) as Key;
  }

  async function page(query = ""): Promise<Page> {
    const res = await stack.request("GET", `/v1/audit${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Page;
  }

  /** Every entry, newest first. */
  const all = async () => (await page("?limit=500")).entries;
  /** The newest entry: what the last change recorded. */
  const newest = async () => (await page("?limit=1")).entries[0];

  async function submit(key: string): Promise<string> {
    const res = await stack.request("POST", "/v1/tasks", { type: "echo", payload: { audit: true } }, key);
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  beforeAll(async () => {
    stack = await createTestStack({ label: "audit" });
    writer = await createKey({ tenant: "acme", name: "writer", scopes: ["tasks:write"] });
    operator = await createKey({ tenant: "ops", name: "operator", scopes: ["admin"] });
  });
  afterAll(async () => {
    await stack?.close();
  });

  test("making a key is recorded, by the bootstrap admin (no key id), with the new key's id and never its secret", async () => {
    const entries = await all();
    const made = entries.filter((e) => e.action === "key.create");
    expect(made.map((e) => e.target).sort()).toEqual([writer.id, operator.id].sort());
    for (const e of made) expect(e).toMatchObject({ keyId: null, tenant: "default" });
    expect(JSON.stringify(entries)).not.toContain(writer.key);
    expect(JSON.stringify(entries)).not.toContain(operator.key);
  });

  test("submissions, single or batch, leave no entry", async () => {
    const before = (await all()).length;
    await submit(writer.key);
    const batch = await stack.request("POST", "/v1/tasks/batch", { tasks: [{ type: "echo", payload: 1 }] }, writer.key);
    expect(batch.status).toBe(202);
    expect((await all()).length).toBe(before);
  });

  test("cancel, retry and bulk retry record the action, the task, the tenant and the key", async () => {
    const id = await submit(writer.key);
    expect((await stack.request("POST", `/v1/tasks/${id}/cancel`, undefined, writer.key)).status).toBe(200);
    expect(await newest()).toMatchObject({ action: "task.cancel", target: id, tenant: "acme", keyId: writer.id });

    expect((await stack.request("POST", `/v1/tasks/${id}/retry`, undefined, writer.key)).status).toBe(202);
    expect(await newest()).toMatchObject({ action: "task.retry", target: id, tenant: "acme", keyId: writer.id });

    expect((await stack.request("POST", "/v1/tasks/retry", { type: "echo" }, writer.key)).status).toBe(202);
    expect(await newest()).toMatchObject({ action: "tasks.retry", target: null, tenant: "acme", keyId: writer.id });
  });

  test("pausing, resuming and limiting a queue are recorded with the task type as target", async () => {
    const as = (method: string, path: string, body?: unknown) => stack.request(method, path, body, operator.key);
    expect((await as("POST", "/v1/queues/echo/pause")).status).toBe(200);
    expect(await newest()).toMatchObject({ action: "queue.pause", target: "echo", tenant: "ops", keyId: operator.id });
    expect((await as("POST", "/v1/queues/echo/resume")).status).toBe(200);
    expect(await newest()).toMatchObject({ action: "queue.resume", target: "echo", tenant: "ops", keyId: operator.id });
    expect((await as("PATCH", "/v1/queues/echo", { concurrency: 7 })).status).toBe(200);
    expect(await newest()).toMatchObject({ action: "queue.limits", target: "echo", tenant: "ops", keyId: operator.id });
    expect((await as("PATCH", "/v1/queues/echo", { concurrency: null })).status).toBe(200);
  });

  test("logging in and out, and revoking a key, are recorded", async () => {
    const temp = await createKey({ tenant: "acme", name: "temp", scopes: ["tasks:read"] });
    const login = await stack.app.request("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ apiKey: temp.key }),
    });
    expect(login.status).toBe(204);
    expect(await newest()).toMatchObject({ action: "session.create", target: null, tenant: "acme", keyId: temp.id });

    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const logout = await stack.app.request("/v1/sessions/current", { method: "DELETE", headers: { cookie } });
    expect(logout.status).toBe(204);
    expect(await newest()).toMatchObject({ action: "session.delete", target: null, tenant: "acme", keyId: temp.id });

    expect((await stack.request("DELETE", `/v1/keys/${temp.id}`)).status).toBe(204);
    expect(await newest()).toMatchObject({ action: "key.revoke", target: temp.id, tenant: "default", keyId: null });
  });

  test("refused changes leave no entry (404, 403, 400, 409, 401)", async () => {
    const done = await submit(writer.key);
    await stack.request("POST", `/v1/tasks/${done}/cancel`, undefined, writer.key);
    const before = (await all()).length;
    const refused = [
      await stack.request("POST", `/v1/tasks/${crypto.randomUUID()}/cancel`, undefined, writer.key),
      await stack.request("POST", "/v1/queues/no_such_type/pause", undefined, operator.key),
      await stack.request("POST", "/v1/queues/echo/pause", undefined, writer.key),
      await stack.request("PATCH", "/v1/queues/echo", { concurrency: "many" }, operator.key),
      await stack.request("POST", `/v1/tasks/${done}/retry`, undefined, writer.key).then(async (r) => {
        // Retrying it queued it again; a second retry of a queued task is the 409.
        expect(r.status).toBe(202);
        return stack.request("POST", `/v1/tasks/${done}/retry`, undefined, writer.key);
      }),
      await stack.request("DELETE", `/v1/keys/${crypto.randomUUID()}`),
      await stack.request("POST", "/v1/tasks/retry", {}, "not-a-key-at-all"),
    ];
    expect(refused.map((r) => r.status)).toEqual([404, 404, 403, 400, 409, 404, 401]);
    // The one retry that succeeded is the only new entry.
    const after = await all();
    expect(after.slice(0, after.length - before).map((e) => e.action)).toEqual(["task.retry"]);
  });

  test("GET /v1/audit is for admin keys only", async () => {
    const forbidden = await stack.request("GET", "/v1/audit", undefined, writer.key);
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    expect((await stack.request("GET", "/v1/audit", undefined, null)).status).toBe(401);
    expect((await stack.request("GET", "/v1/audit", undefined, operator.key)).status).toBe(200);
  });

  test("pages follow nextCursor, newest first, without gaps or repeats; since filters", async () => {
    for (let i = 0; i < 3; i++) {
      await stack.request("POST", "/v1/queues/sleep/pause");
      await stack.request("POST", "/v1/queues/sleep/resume");
    }
    const everything = await all();
    expect(everything.length).toBeGreaterThan(10);
    const walked: Entry[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const p: Page = await page(`?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(p.entries.length).toBeLessThanOrEqual(3);
      walked.push(...p.entries);
      cursor = p.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(Math.ceil(everything.length / 3));
    expect(walked).toEqual(everything);
    const times = walked.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await page(`?since=${encodeURIComponent(future)}`)).entries).toEqual([]);
    const oldest = everything.at(-1) as Entry;
    expect((await page(`?limit=500&since=${encodeURIComponent(oldest.at)}`)).entries.length).toBe(everything.length);
  });

  test("a bad query is a 400 in the contract's shape", async () => {
    for (const q of ["?limit=501", "?limit=0", "?cursor=abc", "?cursor=-1", "?since=yesterday", "?other=1"]) {
      const res = await stack.request("GET", `/v1/audit${q}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("validation_failed");
    }
  });

  test("an audit write that fails never fails the change", async () => {
    const broken = {
      record: async () => {
        throw new Error("the audit table is gone");
      },
    } as unknown as AuditLog;
    const errors: unknown[] = [];
    const log = createLogger("test", "silent");
    log.error = ((...args: unknown[]) => void errors.push(args)) as typeof log.error;
    const app = createApp({
      ...apiDepsFromRuntime(stack.runtime, { adminKey: TEST_ADMIN_KEY, log, maxBodyBytes: 1_048_576 }),
      audit: broken,
    });
    const id = await submit(TEST_ADMIN_KEY);
    const res = await app.request(`/v1/tasks/${id}/cancel`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
    });
    expect(res.status).toBe(200);
    expect(errors).toHaveLength(1);
  });
});
