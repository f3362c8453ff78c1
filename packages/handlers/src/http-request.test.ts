import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import type { TaskContext } from "./define.ts";
import { TaskFailure } from "./failure.ts";
import { createHttpRequestType, type HttpRequestPayload } from "./http-request.ts";

let server: Server<undefined>;
let base = "";
const logs: string[] = [];

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const status = Number(url.searchParams.get("status") ?? 200);
      switch (url.pathname) {
        case "/json":
          return Response.json({ hello: "world", n: [1, 2] }, { status });
        case "/echo":
          return Response.json(
            { method: req.method, contentType: req.headers.get("content-type"), body: await req.text() },
            { status },
          );
        case "/text":
          return new Response("plain words", { status, headers: { "content-type": "text/plain" } });
        case "/broken-json":
          return new Response("{not json", { headers: { "content-type": "application/json" } });
        case "/problem":
          return new Response(JSON.stringify({ title: "nope" }), {
            status: 422,
            headers: { "content-type": "application/problem+json" },
          });
        case "/nul":
          return new Response("a\u0000b", { headers: { "content-type": "text/plain" } });
        default:
          return new Response("down", { status });
      }
    },
  });
  base = `http://localhost:${server.port}`;
});

afterAll(() => server.stop(true));

const type = createHttpRequestType({ allowHosts: ["localhost"] });
const strict = createHttpRequestType({ allowHosts: [] });

function ctx(): TaskContext {
  return {
    signal: new AbortController().signal,
    attempt: 1,
    taskId: "task_test",
    progress: () => {},
    log: (message) => void logs.push(message),
  };
}

/** Runs the handler as the worker would: the payload through the schema first. */
function run(payload: unknown, t = type) {
  return t.run(t.schema.parse(payload) as HttpRequestPayload, ctx());
}

async function failure(call: Promise<unknown>): Promise<TaskFailure> {
  const err = await call.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  if (!(err instanceof TaskFailure)) throw err;
  return err;
}

describe("http_request", () => {
  test("carries the contract's defaults", () => {
    expect(type.type).toBe("http_request");
    expect(type.defaults).toEqual({
      timeoutMs: 30_000,
      maxAttempts: 3,
      backoff: { strategy: "exponential", delayMs: 1000 },
      priority: "normal",
      concurrency: { min: 5, max: 200 },
    });
  });

  test("GET of JSON returns the parsed body, the status and lowercase headers", async () => {
    const result = await run({ url: `${base}/json` });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ hello: "world", n: [1, 2] });
    expect(result.headers["content-type"]).toContain("application/json");
    expect(logs.at(-1)).toBe(`GET ${base}/json answered 200 OK`);
  });

  test("a text body stays text, and so does JSON that does not parse", async () => {
    expect((await run({ url: `${base}/text` })).body).toBe("plain words");
    expect((await run({ url: `${base}/broken-json` })).body).toBe("{not json");
  });

  test("+json media types are parsed", async () => {
    const result = await run({ url: `${base}/problem` });
    expect(result).toMatchObject({ status: 422, body: { title: "nope" } });
  });

  test("POST with a JSON body sends it serialized as application/json", async () => {
    const result = await run({ url: `${base}/echo`, method: "POST", body: { a: 1, b: ["x"] } });
    expect(result.body).toEqual({ method: "POST", contentType: "application/json", body: '{"a":1,"b":["x"]}' });
  });

  test("a string body is sent as it is; a given content-type is kept", async () => {
    const result = await run({
      url: `${base}/echo`,
      method: "PUT",
      headers: { "Content-Type": "text/csv" },
      body: "a,b\n1,2",
    });
    expect(result.body).toEqual({ method: "PUT", contentType: "text/csv", body: "a,b\n1,2" });
    const json = await run({
      url: `${base}/echo`,
      method: "PATCH",
      headers: { "content-type": "application/x+json" },
      body: [1],
    });
    expect(json.body).toMatchObject({ contentType: "application/x+json", body: "[1]" });
  });

  test("HEAD answers with an empty body", async () => {
    const result = await run({ url: `${base}/json`, method: "HEAD" });
    expect(result).toMatchObject({ status: 200, body: "" });
  });

  test("without expectStatus any answer below 500 completes", async () => {
    for (const status of [201, 204, 301, 404, 499]) {
      const result = await run({ url: `${base}/text?status=${status}` });
      expect(result.status).toBe(status);
    }
  });

  test("with expectStatus that status completes, even a 404", async () => {
    const result = await run({ url: `${base}/json?status=404`, expectStatus: 404 });
    expect(result).toMatchObject({ status: 404, body: { hello: "world" } });
  });

  test("with expectStatus another status fails with unexpected_status, not retried", async () => {
    const err = await failure(run({ url: `${base}/json?status=404`, expectStatus: 200 }));
    expect(err).toMatchObject({ code: "unexpected_status", retryable: false });
    expect(err.message).toBe("expected 200, got 404 Not Found");
  });

  test("a 5xx fails with server_error and is retried, expectStatus or not", async () => {
    const err = await failure(run({ url: `${base}/down?status=500` }));
    expect(err).toMatchObject({ code: "server_error", retryable: true, message: "500 Internal Server Error" });
    const expecting = await failure(run({ url: `${base}/down?status=503`, expectStatus: 200 }));
    expect(expecting).toMatchObject({ code: "server_error", retryable: true, message: "503 Service Unavailable" });
  });

  test("a 5xx that was expected completes", async () => {
    expect((await run({ url: `${base}/down?status=503`, expectStatus: 503 })).body).toBe("down");
  });

  test("a forbidden destination fails with forbidden_destination, not retried", async () => {
    const byName = await failure(run({ url: `${base}/json` }, strict));
    expect(byName).toMatchObject({ code: "forbidden_destination", retryable: false });
    // A literal is refused by the schema already; run() refuses it too when handed one directly.
    const literal = await failure(strict.run({ url: `http://127.0.0.1:${server.port}/json`, method: "GET" }, ctx()));
    expect(literal).toMatchObject({ code: "forbidden_destination", retryable: false });
  });

  test("an unreachable port is a network error, retried", async () => {
    const err = await failure(run({ url: "http://localhost:1/" }));
    expect(err).toMatchObject({ code: "network_error", retryable: true });
  });

  test("U+0000 in a response is replaced, so the result can be stored", async () => {
    expect((await run({ url: `${base}/nul` })).body).toBe("a\uFFFDb");
  });

  test("an abort rejects with the signal's reason", async () => {
    const controller = new AbortController();
    const reason = new Error("cancelled by the user");
    controller.abort(reason);
    const err = await type
      .run({ url: `${base}/json`, method: "GET" }, { ...ctx(), signal: controller.signal })
      .catch((e: unknown) => e);
    expect(err).toBe(reason);
  });
});

describe("http_request payload", () => {
  const parse = (payload: unknown, t = type) => t.schema.safeParse(payload);
  const message = (payload: unknown, t = type) => {
    const r = parse(payload, t);
    return r.success ? null : (r.error.issues[0]?.message ?? "");
  };

  test("fills the method and accepts the documented fields", () => {
    const r = parse({ url: "https://example.com/x?y=1" });
    expect(r.success && r.data).toEqual({ url: "https://example.com/x?y=1", method: "GET" });
    for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]) {
      expect(parse({ url: "https://example.com/", method }).success).toBe(true);
    }
    expect(
      parse({ url: "http://example.com/", method: "POST", headers: { "X-A": "b" }, body: null, expectStatus: 201 })
        .success,
    ).toBe(true);
  });

  test("refuses what is not in the contract", () => {
    expect(parse({}).success).toBe(false);
    expect(parse({ url: "https://example.com/", extra: 1 }).success).toBe(false);
    expect(parse({ url: "https://example.com/", method: "TRACE" }).success).toBe(false);
    expect(parse({ url: "https://example.com/", expectStatus: 99 }).success).toBe(false);
    expect(parse({ url: "https://example.com/", expectStatus: 600 }).success).toBe(false);
    expect(parse({ url: "https://example.com/", expectStatus: 200.5 }).success).toBe(false);
    expect(parse({ url: "https://example.com/", headers: { a: 1 } }).success).toBe(false);
  });

  test.each(["ftp://example.com/", "file:///etc/passwd", "example.com", "/relative", "javascript:alert(1)"])(
    "refuses the URL %s",
    (url) => {
      expect(message({ url })).toContain("http or https");
    },
  );

  test("refuses header names and values that could split a request", () => {
    expect(message({ url: "https://example.com/", headers: { "x a": "1" } })).toContain("header names");
    expect(message({ url: "https://example.com/", headers: { "x-a": "1\r\nInjected: yes" } })).toContain(
      "header values",
    );
    expect(message({ url: "https://example.com/", headers: { "x-a": "日本" } })).toContain("Latin-1");
    expect(parse({ url: "https://example.com/", headers: { "x-a": "tab\there, café" } }).success).toBe(true);
  });

  test.each([
    "http://127.0.0.1/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://[::1]:8080/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:10.0.0.1]/",
    "http://192.168.1.1/admin",
  ])("a literal forbidden address is refused at submit: %s", (url) => {
    expect(message({ url }, strict)).toMatch(/^the destination is forbidden: /);
  });

  test("names are left to the guard at run time; allow-listed literals pass", () => {
    expect(parse({ url: "http://localhost:3000/" }, strict).success).toBe(true);
    expect(parse({ url: "http://internal.example/" }, strict).success).toBe(true);
    const allowing = createHttpRequestType({ allowHosts: ["127.0.0.1"] });
    expect(parse({ url: "http://127.0.0.1/" }, allowing).success).toBe(true);
  });
});
