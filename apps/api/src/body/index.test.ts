import { describe, expect, test } from "bun:test";
import { createLogger } from "@conveyor/core";
import { Hono } from "hono";
import { errorHandler } from "../errors/index.ts";
import { jsonBody, jsonDepth, MAX_JSON_DEPTH } from "./index.ts";

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${"}".repeat(depth - 1)}`;

describe("jsonDepth", () => {
  test("counts arrays and objects alike", () => {
    expect(jsonDepth("1")).toBe(0);
    expect(jsonDepth('"text"')).toBe(0);
    expect(jsonDepth("[]")).toBe(1);
    expect(jsonDepth("{}")).toBe(1);
    expect(jsonDepth('{"a":[1,{"b":[]}],"c":{}}')).toBe(4);
    expect(jsonDepth("[[1],[2],[[3]]]")).toBe(3);
  });

  test("brackets inside strings do not count", () => {
    expect(jsonDepth('{"a":"[[[[{{{{"}')).toBe(1);
    expect(jsonDepth('{"a":"]]]]}}}}","b":[1]}')).toBe(2);
    expect(jsonDepth('["{[", "]}", ["x"]]')).toBe(2);
    expect(jsonDepth(`{"k[{": "${"[".repeat(500)}"}`)).toBe(1);
  });

  test("escaped quotes do not end a string", () => {
    expect(jsonDepth('{"a":"say \\"[[[[\\" twice"}')).toBe(1);
    expect(jsonDepth('["\\"", "[[["]')).toBe(1);
    expect(jsonDepth('{"a\\"[": 1}')).toBe(1);
  });

  test("an escaped backslash before a quote ends the string there", () => {
    // ["\\",[1]]: the string is one backslash; the [1] after it is real nesting.
    expect(jsonDepth('["\\\\",[1]]')).toBe(2);
    expect(jsonDepth('["\\\\\\"[",[[1]]]')).toBe(3);
    expect(jsonDepth('["\\u005b\\u005b", []]')).toBe(2);
  });

  test("exactly 64 levels are measured as 64; 65 passes the limit", () => {
    expect(MAX_JSON_DEPTH).toBe(64);
    expect(jsonDepth(nested(64))).toBe(64);
    expect(jsonDepth(nestedObjects(64))).toBe(64);
    expect(jsonDepth(nested(65))).toBeGreaterThan(MAX_JSON_DEPTH);
    expect(jsonDepth(nestedObjects(65))).toBeGreaterThan(MAX_JSON_DEPTH);
  });

  test("stops early on very deep input", () => {
    expect(jsonDepth(nested(1_000_000))).toBe(MAX_JSON_DEPTH + 1);
    expect(jsonDepth(nested(100), 10)).toBe(11);
  });
});

describe("jsonBody", () => {
  const maxBytes = 4096;
  const app = new Hono();
  app.onError(errorHandler(createLogger("test", "silent")));
  app.use(jsonBody(maxBytes));
  app.post("/", async (c) => c.json({ received: await c.req.json() }));

  const post = (body: BodyInit, headers: Record<string, string> = { "content-type": "application/json" }) =>
    app.request("/", { method: "POST", headers, body });

  test("64 levels are accepted and reach the handler intact", async () => {
    const res = await post(nested(64));
    expect(res.status).toBe(200);
    const { received } = (await res.json()) as { received: unknown };
    expect(jsonDepth(JSON.stringify(received))).toBe(64);
  });

  test("65 levels are refused with 400 validation_failed", async () => {
    for (const text of [nested(65), nestedObjects(65), `{"payload":${nested(64)}}`]) {
      const res = await post(text);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; details: { code: string }[] } };
      expect(body.error.code).toBe("validation_failed");
      expect(body.error.details[0]?.code).toBe("too_deep");
    }
  });

  test("brackets inside strings do not make a shallow body too deep", async () => {
    const text = JSON.stringify({ s: "[".repeat(1000), t: '"{{{{' });
    const res = await post(text);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { received: unknown }).received).toEqual(JSON.parse(text));
  });

  test("a +json media type with parameters is JSON", async () => {
    const res = await post("[1]", { "content-type": "application/merge-patch+json; charset=utf-8" });
    expect(res.status).toBe(200);
  });

  test("another media type is 415", async () => {
    const res = await post("[1]", { "content-type": "text/plain" });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unsupported_media_type");
  });

  test("a body over the limit is 413, with or without a Content-Length", async () => {
    const big = JSON.stringify({ s: "x".repeat(maxBytes) });
    const withLength = await post(big, { "content-type": "application/json", "content-length": String(big.length) });
    expect(withLength.status).toBe(413);
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(encoder.encode("x".repeat(1024)));
        controller.close();
      },
    });
    const chunked = await post(stream, { "content-type": "application/json", "transfer-encoding": "chunked" });
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
  });
});
