import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { OPERATIONS, type Operation } from "@conveyor/api";
import fc from "fast-check";
import { createTestStack, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";

// Hostile input at every route that takes a body, as the contract promises: "never a 5xx for bad
// input", and every refusal in the one error shape. The routes come from the OpenAPI list (so a new
// route is fuzzed without editing this file); path parameters are random text or real ids.

const MAX_BODY_BYTES = 1_048_576;
const RUNS = 200;

/** The code each refusal status may carry (CONTRACT.md, "Errors"). */
const CODES: Record<number, string[]> = {
  400: ["validation_failed"],
  401: ["unauthorized"],
  403: ["forbidden"],
  404: ["not_found", "unknown_task_type"],
  409: ["conflict"],
  413: ["payload_too_large"],
  415: ["unsupported_media_type"],
  429: ["rate_limited"],
};

/** What is sent: a content type (null: none) and the body bytes or text (null: no body). */
interface Sent {
  contentType: string | null;
  body: string | Uint8Array | null;
}

const json = (value: unknown): Sent => ({ contentType: "application/json", body: JSON.stringify(value) });

/** Every field name some route reads, so random objects often hit a real field with a wrong type. */
const FIELDS = [
  "type",
  "payload",
  "priority",
  "timeoutMs",
  "maxAttempts",
  "backoff",
  "delayMs",
  "runAt",
  "idempotencyKey",
  "tasks",
  "code",
  "message",
  "since",
  "rateLimit",
  "concurrency",
  "tenant",
  "name",
  "scopes",
  "apiKey",
  "__proto__",
  "constructor",
];

const anyJson = fc.jsonValue({ maxDepth: 6, stringUnit: "binary" });

/** Text that has broken services before: NULs and lone surrogates (PostgreSQL refuses both), escapes, traversal. */
const nastyText = fc.constantFrom(
  "\u0000",
  "echo\u0000",
  "\ud800",
  "x\udfff",
  "\uffff",
  "\u202e",
  "%00",
  "'; drop table tasks; --",
  "../../etc/passwd",
  "{{7*7}}",
  "__proto__",
  "",
);
const anyValue = fc.oneof({ arbitrary: anyJson, weight: 3 }, { arbitrary: nastyText, weight: 1 });

/** A valid body of some route (which route's does not matter: the others must refuse it cleanly). */
const validBody = fc.constantFrom<Record<string, unknown>>(
  { type: "echo", payload: { a: 1 } },
  { type: "sleep", payload: { ms: 1 }, priority: "high", timeoutMs: 1000, maxAttempts: 2, idempotencyKey: "k" },
  { tasks: [{ type: "echo", payload: 1 }] },
  { type: "echo", code: "handler_error", message: "x", since: "2024-01-01T00:00:00Z" },
  { rateLimit: { max: 5, durationMs: 1000 }, concurrency: 3 },
  { tenant: "acme", name: "fuzz", scopes: ["tasks:read"], rateLimit: { max: 1, durationMs: 1 } },
  { apiKey: "not-a-key" },
);

/** Valid-looking bodies with fields added or replaced by values of any type. */
const wrongTypes = fc
  .tuple(validBody, fc.dictionary(fc.constantFrom(...FIELDS), anyValue, { maxKeys: 4 }))
  .map(([base, changes]) => json({ ...base, ...changes }));

/** A valid body with exactly one of its own fields holding hostile text. */
const nastyField = validBody.chain((base) =>
  fc.tuple(fc.constantFrom(...Object.keys(base)), nastyText).map(([field, text]) => json({ ...base, [field]: text })),
);

const deepNesting = fc
  .tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom("[", '{"a":'), fc.boolean())
  .map(([depth, open, wrapped]) => {
    const close = open === "[" ? "]" : "}";
    const nested = `${open.repeat(depth)}1${close.repeat(depth)}`;
    return { contentType: "application/json", body: wrapped ? `{"type":"echo","payload":${nested}}` : nested };
  });

/** Strings from empty to just over the body limit (past it: 413), in a field or as the whole body. */
const hugeStrings = fc
  .tuple(
    fc.integer({ min: 0, max: MAX_BODY_BYTES + 1000 }),
    fc.constantFrom(...FIELDS),
    fc.constantFrom("a", "é", "\\"),
  )
  .map(([n, field, ch]): Sent => {
    const text = ch.repeat(Math.floor(n / Buffer.byteLength(ch)));
    return {
      contentType: "application/json",
      body: `{"type":"echo","${field}":"${ch === "\\" ? `${text}\\` : text}"}`,
    };
  });

const randomBytes = fc
  .tuple(fc.uint8Array({ maxLength: 4096 }), fc.constantFrom("application/json", "application/vnd.api+json"))
  .map(([bytes, contentType]): Sent => ({ contentType, body: bytes }));

/** JSON that is valid but for bytes that are not UTF-8 inside a string. */
const invalidUtf8 = fc
  .tuple(fc.constantFrom(...FIELDS), fc.uint8Array({ minLength: 1, maxLength: 16 }))
  .map(([field, junk]): Sent => {
    const head = new TextEncoder().encode(`{"type":"echo","${field}":"`);
    const bad = junk.map((b) => b | 0x80);
    const tail = new TextEncoder().encode('"}');
    return { contentType: "application/json", body: new Uint8Array([...head, ...bad, 0xc3, 0x28, ...tail]) };
  });

const wrongContentType = fc
  .tuple(
    fc.constantFrom(
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/xml",
      "application/jsonx",
      "json",
      "",
      "application/json; charset=utf-16",
      "APPLICATION/JSON",
    ),
    anyJson,
  )
  .map(([contentType, value]): Sent => ({ contentType, body: JSON.stringify(value) ?? "" }));

const emptyBodies = fc.constantFrom<Sent>(
  { contentType: null, body: null },
  { contentType: "application/json", body: null },
  { contentType: "application/json", body: "" },
  { contentType: "application/json", body: " " },
  { contentType: "application/json", body: "null" },
  { contentType: null, body: "{}" },
);

/** The route's own fields (from its request schema), each given hostile text or a value of any type. */
function ownFields(op: Operation): fc.Arbitrary<Sent> {
  const shape = (op.request as { shape?: Record<string, unknown> } | undefined)?.shape;
  const fields = shape ? Object.keys(shape) : FIELDS;
  return fc
    .dictionary(fc.constantFrom(...fields), fc.oneof(nastyText, anyValue), { minKeys: 1, maxKeys: fields.length })
    .map(json);
}

const bodies = (op: Operation): fc.Arbitrary<Sent> =>
  fc.oneof(
    { arbitrary: ownFields(op), weight: 3 },
    { arbitrary: anyJson.map(json), weight: 4 },
    { arbitrary: wrongTypes, weight: 4 },
    { arbitrary: nastyField, weight: 2 },
    { arbitrary: deepNesting, weight: 1 },
    { arbitrary: hugeStrings, weight: 1 },
    { arbitrary: randomBytes, weight: 2 },
    { arbitrary: invalidUtf8, weight: 1 },
    { arbitrary: wrongContentType, weight: 1 },
    { arbitrary: emptyBodies, weight: 1 },
  );

describe("hostile bodies at every POST and PATCH route", () => {
  let stack: TestStack;
  let taskId: string;
  let keyId: string;

  beforeAll(async () => {
    stack = await createTestStack({ label: "fuzz" });
    const task = await stack.request("POST", "/v1/tasks", { type: "echo", payload: "real" });
    taskId = ((await task.json()) as { id: string }).id;
    const key = await stack.request("POST", "/v1/keys", { tenant: "fuzz", name: "real", scopes: ["tasks:read"] });
    keyId = ((await key.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** Path parameters: real ids and names most of the time, else any text. */
  const param = () =>
    fc.oneof(
      fc.constant(taskId),
      fc.constant(keyId),
      fc.constantFrom("echo", "sleep", "http_request", "data_processing"),
      fc.uuid(),
      fc.string({ unit: "grapheme", maxLength: 40 }),
      nastyText.filter((t) => t.isWellFormed()),
    );

  async function send(method: string, path: string, sent: Sent): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
    if (sent.contentType !== null) headers["content-type"] = sent.contentType;
    // fast-check's byte arrays are typed over any buffer; fetch takes them all the same.
    return stack.app.request(path, { method: method.toUpperCase(), headers, body: sent.body as BodyInit | null });
  }

  /** Nothing but 2xx and 4xx; every 4xx in the contract's error shape with a code matching its status. */
  async function expectContractAnswer(res: Response): Promise<void> {
    expect(res.status).toBeLessThan(500);
    if (res.status < 400) return;
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    expect(Object.keys(body)).toEqual(["error"]);
    expect(CODES[res.status] ?? []).toContain(body.error?.code as string);
    expect(typeof body.error?.message).toBe("string");
    expect(Array.isArray(body.error?.details)).toBe(true);
    expect(JSON.stringify(body)).not.toContain("    at ");
    if (res.status === 429) expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  }

  const routes = OPERATIONS.filter((o) => o.method === "post" || o.method === "patch");

  test("the list of routes comes from the OpenAPI operations", () => {
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining(["post /v1/tasks", "post /v1/tasks/batch", "patch /v1/queues/{type}"]),
    );
  });

  for (const op of routes) {
    test(`${op.method.toUpperCase()} ${op.path}`, async () => {
      const names = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
      await fc.assert(
        fc.asyncProperty(
          fc.array(param(), { minLength: names.length, maxLength: names.length }),
          bodies(op),
          async (values, sent) => {
            let path = op.path;
            names.forEach((name, i) => {
              path = path.replace(`{${name}}`, encodeURIComponent(values[i] as string));
            });
            await expectContractAnswer(await send(op.method, path, sent));
          },
        ),
        { numRuns: RUNS },
      );
    });
  }

  const queried = OPERATIONS.filter((o) => o.method === "get" && o.query);

  for (const op of queried) {
    test(`GET ${op.path} with hostile queries`, async () => {
      const names = [...Object.keys(op.query?.shape ?? {}), "cursor", "limit", "other"];
      const queries = fc.dictionary(
        fc.constantFrom(...names),
        fc.oneof(
          fc.string({ unit: "grapheme", maxLength: 60 }),
          nastyText.filter((t) => t.isWellFormed()),
          fc.integer().map(String),
        ),
        { maxKeys: 4 },
      );
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.constant(taskId), fc.uuid(), fc.string({ maxLength: 20 })),
          queries,
          async (id, query) => {
            const path = op.path.replace("{id}", encodeURIComponent(id));
            const res = await stack.app.request(`${path}?${new URLSearchParams(query)}`, {
              headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
            });
            await expectContractAnswer(res);
          },
        ),
        { numRuns: 50 },
      );
    });
  }

  test("afterwards the service still answers: /healthz, and a normal submission", async () => {
    expect((await stack.app.request("/healthz")).status).toBe(200);
    // The fuzzing may have paused the queue: a submission is still accepted, just not started.
    const res = await stack.request("POST", "/v1/tasks", { type: "echo", payload: { after: "fuzz" } });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { payload: unknown }).payload).toEqual({ after: "fuzz" });
  });
});
