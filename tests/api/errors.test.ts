import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestStack, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";

type ErrorDetail = { path: (string | number)[]; code: string; message: string };
type ErrorBody = { error: { code: string; message: string; details: ErrorDetail[] } };

/** The harness's body limit (`maxBodyBytes` in createTestStack). */
const MAX_BODY_BYTES = 1_048_576;

/**
 * Asserts the contract's error shape, exactly, with the given status and code, and no stack
 * trace anywhere in the answer; returns the body.
 */
async function expectError(res: Response, status: number, code: string): Promise<ErrorBody> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  const body = JSON.parse(text) as ErrorBody;
  expect(Object.keys(body)).toEqual(["error"]);
  expect(Object.keys(body.error).sort()).toEqual(["code", "details", "message"]);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(Array.isArray(body.error.details)).toBe(true);
  for (const d of body.error.details) {
    expect(Object.keys(d).sort()).toEqual(["code", "message", "path"]);
    expect(Array.isArray(d.path)).toBe(true);
    expect(typeof d.code).toBe("string");
    expect(typeof d.message).toBe("string");
  }
  expect(text).not.toMatch(/\bat .*\.(ts|js):\d+/);
  expect(text).not.toMatch(/"stack"|Error: /);
  return body;
}

describe("API errors: the contract's shape and status, never a stack trace", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await createTestStack({ label: "api_errors" });
  });
  afterAll(() => stack?.close());

  /** A raw request with the admin key: for bodies and headers `stack.request` would not send. */
  function raw(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
    return Promise.resolve(
      stack.app.request(path, {
        method: "POST",
        ...init,
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, ...init.headers },
      }),
    );
  }
  const json = (path: string, body: string, headers: Record<string, string> = {}) =>
    raw(path, { body, headers: { "content-type": "application/json", ...headers } });

  describe("routes and auth", () => {
    test("an unknown route is 404 not_found, with or without a key", async () => {
      await expectError(await stack.request("GET", "/nope"), 404, "not_found");
      await expectError(await stack.request("GET", "/nope", undefined, null), 404, "not_found");
      await expectError(await stack.request("GET", "/v1/nope"), 404, "not_found");
      await expectError(await stack.request("DELETE", "/v1/tasks"), 404, "not_found");
    });

    test("no key is 401 unauthorized", async () => {
      await expectError(
        await stack.request("POST", "/v1/tasks", { type: "echo", payload: 1 }, null),
        401,
        "unauthorized",
      );
      await expectError(
        await stack.request("GET", `/v1/tasks/${Bun.randomUUIDv7()}`, undefined, null),
        401,
        "unauthorized",
      );
      await expectError(await stack.request("GET", "/v1/whoami", undefined, null), 401, "unauthorized");
    });

    test("a wrong key is 401 unauthorized", async () => {
      await expectError(
        await stack.request("POST", "/v1/tasks", { type: "echo", payload: 1 }, "wrong-key-0123456789"),
        401,
        "unauthorized",
      );
      await expectError(await stack.request("GET", "/v1/whoami", undefined, `${TEST_ADMIN_KEY}x`), 401, "unauthorized");
      await expectError(await stack.request("GET", "/v1/whoami", undefined, ""), 401, "unauthorized");
    });

    test("a header that is not a bearer token is 401", async () => {
      for (const authorization of [
        TEST_ADMIN_KEY,
        `Basic ${btoa(`admin:${TEST_ADMIN_KEY}`)}`,
        "Bearer",
        "Bearer a b",
      ]) {
        const res = await stack.app.request("/v1/whoami", { headers: { authorization } });
        await expectError(res, 401, "unauthorized");
      }
    });

    test("the admin key is accepted (the checks above are not refusing everything)", async () => {
      const res = await stack.request("GET", "/v1/whoami");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ tenant: "default", name: expect.any(String), scopes: ["admin"] });
    });
  });

  describe("bodies", () => {
    test("a media type other than JSON is 415 unsupported_media_type", async () => {
      const body = JSON.stringify({ type: "echo", payload: 1 });
      await expectError(
        await raw("/v1/tasks", { body, headers: { "content-type": "text/plain" } }),
        415,
        "unsupported_media_type",
      );
      await expectError(
        await raw("/v1/tasks", { body, headers: { "content-type": "application/x-www-form-urlencoded" } }),
        415,
        "unsupported_media_type",
      );
      await expectError(await raw("/v1/tasks", { body }), 415, "unsupported_media_type");
    });

    test("application/json with a charset is accepted", async () => {
      const res = await json("/v1/tasks", JSON.stringify({ type: "echo", payload: 1 }), {
        "content-type": "application/json; charset=utf-8",
      });
      expect(res.status).toBe(202);
    });

    test("malformed JSON is 400 validation_failed", async () => {
      for (const text of ["{not json", '{"type":"echo",', "", "[1,]", "{'type':'echo'}", '{"type":"echo"}}']) {
        await expectError(await json("/v1/tasks", text), 400, "validation_failed");
      }
    });

    test("JSON that is not an object is 400 validation_failed", async () => {
      for (const text of ["null", "[]", '"echo"', "42", "true"]) {
        await expectError(await json("/v1/tasks", text), 400, "validation_failed");
      }
    });

    test("a body over MAX_BODY_BYTES with a Content-Length is 413 payload_too_large", async () => {
      const big = JSON.stringify({ type: "echo", payload: "x".repeat(MAX_BODY_BYTES) });
      await expectError(
        await json("/v1/tasks", big, { "content-length": String(Buffer.byteLength(big)) }),
        413,
        "payload_too_large",
      );
    });

    test("a Content-Length that understates the body does not get past the limit", async () => {
      const big = JSON.stringify({ type: "echo", payload: "x".repeat(MAX_BODY_BYTES) });
      await expectError(await json("/v1/tasks", big, { "content-length": "10" }), 413, "payload_too_large");
    });

    test("a chunked body over MAX_BODY_BYTES without a Content-Length is 413 payload_too_large", async () => {
      const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(new TextEncoder().encode('{"type":"echo","payload":"'));
          // Twice the limit at most, so a guard that read everything would still end.
          if (sent > 2 * MAX_BODY_BYTES) return controller.close();
          sent += chunk.byteLength;
          controller.enqueue(chunk);
        },
      });
      const res = await raw("/v1/tasks", {
        body,
        headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
      });
      await expectError(res, 413, "payload_too_large");
      // The guard stopped reading soon after the limit.
      expect(sent).toBeLessThan(MAX_BODY_BYTES + 4 * chunk.byteLength);
    });

    test("a body just under the limit is accepted", async () => {
      const text = JSON.stringify({ type: "echo", payload: "x".repeat(MAX_BODY_BYTES - 100) });
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_BODY_BYTES);
      const res = await json("/v1/tasks", text, { "content-length": String(Buffer.byteLength(text)) });
      expect(res.status).toBe(202);
    });

    test("100,000-deep JSON is 400 validation_failed, not a 500 or a crash", async () => {
      const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
      const deepObject = `${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`;
      for (const text of [deep, `{"type":"echo","payload":${deep}}`, deepObject]) {
        const body = await expectError(await json("/v1/tasks", text), 400, "validation_failed");
        expect(body.error.details[0]?.code).toBe("too_deep");
      }
      // Through the harness's own request too (no Content-Length, as app.request sends it).
      const viaStack = await stack.app.request("/v1/tasks", {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" },
        body: `{"type":"echo","payload":${deep}}`,
      });
      await expectError(viaStack, 400, "validation_failed");
      // And the API still answers afterwards.
      expect((await stack.request("GET", "/healthz", undefined, null)).status).toBe(200);
    });

    test("a payload nested 65 deep is refused, 63 deep inside the envelope is accepted", async () => {
      const nest = (n: number): unknown => (n === 0 ? 1 : [nest(n - 1)]);
      await expectError(
        await stack.request("POST", "/v1/tasks", { type: "echo", payload: nest(64) }),
        400,
        "validation_failed",
      );
      const ok = await stack.request("POST", "/v1/tasks", { type: "echo", payload: nest(63) });
      expect(ok.status).toBe(202);
    });
  });

  describe("submissions", () => {
    test("an unknown task type is 404 unknown_task_type", async () => {
      const body = await expectError(
        await stack.request("POST", "/v1/tasks", { type: "no_such_type", payload: {} }),
        404,
        "unknown_task_type",
      );
      expect(body.error.message).toContain("no_such_type");
    });

    test("a bad sleep payload is 400 with a detail at payload.ms", async () => {
      for (const payload of [{ ms: "x" }, { ms: -1 }, { ms: 3_600_001 }, { ms: 1.5 }]) {
        const body = await expectError(
          await stack.request("POST", "/v1/tasks", { type: "sleep", payload }),
          400,
          "validation_failed",
        );
        expect(body.error.details.length).toBeGreaterThan(0);
        expect(body.error.details[0]?.path.slice(0, 2)).toEqual(["payload", "ms"]);
      }
    });

    test("a sleep payload without ms is 400 with a detail under payload", async () => {
      for (const payload of [{}, null, "100", undefined]) {
        const body = await expectError(
          await stack.request("POST", "/v1/tasks", { type: "sleep", payload }),
          400,
          "validation_failed",
        );
        expect(body.error.details[0]?.path[0]).toBe("payload");
      }
    });

    test("an unknown envelope field is 400", async () => {
      const body = await expectError(
        await stack.request("POST", "/v1/tasks", { type: "echo", payload: {}, colour: "red" }),
        400,
        "validation_failed",
      );
      expect(JSON.stringify(body.error.details)).toContain("colour");
    });

    test("a missing type is 400", async () => {
      await expectError(await stack.request("POST", "/v1/tasks", { payload: {} }), 400, "validation_failed");
      await expectError(await stack.request("POST", "/v1/tasks", { type: 7, payload: {} }), 400, "validation_failed");
    });

    test("a bad priority is 400 with a detail at priority", async () => {
      for (const priority of ["urgent", "CRITICAL", 1, null]) {
        const body = await expectError(
          await stack.request("POST", "/v1/tasks", { type: "echo", payload: {}, priority }),
          400,
          "validation_failed",
        );
        expect(body.error.details[0]?.path).toEqual(["priority"]);
      }
    });

    test("bad numbers in the envelope are 400 with their path", async () => {
      for (const [field, value] of [
        ["timeoutMs", 0],
        ["timeoutMs", "1000"],
        ["maxAttempts", 0],
        ["maxAttempts", 101],
        ["delayMs", -5],
        ["runAt", "tomorrow"],
      ] as const) {
        const body = await expectError(
          await stack.request("POST", "/v1/tasks", { type: "echo", payload: {}, [field]: value }),
          400,
          "validation_failed",
        );
        expect(body.error.details[0]?.path[0]).toBe(field);
      }
    });

    test("delayMs together with runAt is 400", async () => {
      await expectError(
        await stack.request("POST", "/v1/tasks", {
          type: "echo",
          payload: {},
          delayMs: 1000,
          runAt: new Date(Date.now() + 60_000).toISOString(),
        }),
        400,
        "validation_failed",
      );
    });

    test("a bad backoff is 400 with a detail under backoff", async () => {
      for (const backoff of [
        { strategy: "linear", delayMs: 10 },
        { strategy: "fixed" },
        { strategy: "fixed", delayMs: 10, jitter: 2 },
      ]) {
        const body = await expectError(
          await stack.request("POST", "/v1/tasks", { type: "echo", payload: {}, backoff }),
          400,
          "validation_failed",
        );
        expect(body.error.details[0]?.path[0]).toBe("backoff");
      }
    });

    test("strings PostgreSQL cannot store (U+0000, a lone surrogate) are 400 at their path, not a 500", async () => {
      for (const [payload, path] of [
        [{ s: "a\u0000b" }, ["payload", "s"]],
        [{ list: ["ok", "\ud800"] }, ["payload", "list", 1]],
        [{ "k\u0000": 1 }, ["payload", "k\u0000"]],
        ["\udc00", ["payload"]],
      ] as const) {
        const body = await expectError(
          await stack.request("POST", "/v1/tasks", { type: "echo", payload }),
          400,
          "validation_failed",
        );
        expect(body.error.details[0]?.path).toEqual([...path]);
      }
      const key = await expectError(
        await stack.request("POST", "/v1/tasks", { type: "echo", payload: 1, idempotencyKey: "k\u0000" }),
        400,
        "validation_failed",
      );
      expect(key.error.details[0]?.path).toEqual(["idempotencyKey"]);
      // A well-formed pair (an emoji) is fine.
      const ok = await stack.request("POST", "/v1/tasks", { type: "echo", payload: { s: "\ud83d\ude00" } });
      expect(ok.status).toBe(202);
      expect(((await ok.json()) as { payload: unknown }).payload).toEqual({ s: "😀" });
    });
  });

  describe("reads", () => {
    test("a task id that is not a UUID is 404", async () => {
      await expectError(await stack.request("GET", "/v1/tasks/not-a-uuid"), 404, "not_found");
      await expectError(await stack.request("GET", "/v1/tasks/not-a-uuid/attempts"), 404, "not_found");
      await expectError(await stack.request("GET", "/v1/tasks/'%3B%20drop%20table%20tasks"), 404, "not_found");
    });

    test("an unknown UUID is 404", async () => {
      const id = Bun.randomUUIDv7();
      await expectError(await stack.request("GET", `/v1/tasks/${id}`), 404, "not_found");
      await expectError(await stack.request("GET", `/v1/tasks/${id}/attempts`), 404, "not_found");
      await expectError(await stack.request("GET", "/v1/tasks/00000000-0000-0000-0000-000000000000"), 404, "not_found");
    });
  });

  describe("health", () => {
    test("/healthz is 200 without a key", async () => {
      const res = await stack.request("GET", "/healthz", undefined, null);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "ok" });
    });

    test("/readyz is 200 with every check ok", async () => {
      const res = await stack.request("GET", "/readyz", undefined, null);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "ready", checks: { postgres: "ok", redis: "ok" } });
    });
  });
});
