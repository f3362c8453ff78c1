import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { SubmitTask } from "@conveyor/scheduler";
import { z } from "zod";
import { buildOpenApiDocument } from "./document.ts";
import { openApiDocument, openApiRoutes } from "./index.ts";
import type { Operation } from "./operations.ts";
import { OPERATIONS } from "./operations.ts";

type Json = Record<string, any>;

const doc = openApiDocument() as Json;

/** The component a `$ref` points at. */
function resolve(d: Json, schema: Json): Json {
  const prefix = "#/components/schemas/";
  if (typeof schema.$ref !== "string") return schema;
  expect(schema.$ref.startsWith(prefix)).toBe(true);
  const target = d.components.schemas[schema.$ref.slice(prefix.length)];
  expect(target).toBeDefined();
  return target;
}

function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refsIn(v, out);
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === "$ref" && typeof v === "string") out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

const operations = (d: Json): [string, string, Json][] =>
  Object.entries(d.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json).map(([method, op]) => [method, path, op as Json] as [string, string, Json]),
  );

const TASK_FIELDS = [
  "id",
  "tenant",
  "type",
  "status",
  "priority",
  "payload",
  "result",
  "error",
  "progress",
  "attempts",
  "maxAttempts",
  "timeoutMs",
  "idempotencyKey",
  "scheduleId",
  "runAt",
  "createdAt",
  "startedAt",
  "finishedAt",
  "node",
];

describe("openApiDocument", () => {
  test("is OpenAPI 3.1.0, built once", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info).toMatchObject({ title: "Conveyor API", version: expect.any(String) });
    expect(openApiDocument()).toBe(doc);
  });

  test("every operation in the list appears in the document, once", () => {
    const listed = operations(doc).map(([method, path]) => `${method} ${path}`);
    expect(listed.sort()).toEqual(OPERATIONS.map((o) => `${o.method} ${o.path}`).sort());
  });

  test("POST /v1/tasks takes SubmitTask: type and payload required, no other fields", () => {
    const body = doc.paths["/v1/tasks"].post.requestBody;
    expect(body.required).toBe(true);
    const schema = resolve(doc, body.content["application/json"].schema);
    expect(Object.keys(schema.properties)).toEqual(Object.keys(SubmitTask.shape));
    expect(schema.properties).toHaveProperty("type");
    expect(schema.properties).toHaveProperty("payload");
    expect(schema.required).toEqual(["type", "payload"]);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.priority.enum).toEqual(["critical", "high", "normal", "low"]);
    expect(resolve(doc, schema.properties.backoff).additionalProperties).toBe(false);
  });

  test("Task and Attempt have exactly the contract's fields, all present in every answer", () => {
    const task = doc.components.schemas.Task;
    expect(Object.keys(task.properties)).toEqual(TASK_FIELDS);
    expect(task.required).toEqual(TASK_FIELDS);
    const attempt = doc.components.schemas.Attempt;
    const attemptFields = ["n", "node", "startedAt", "finishedAt", "outcome", "error", "durationMs"];
    expect(Object.keys(attempt.properties)).toEqual(attemptFields);
    expect(attempt.required).toEqual(attemptFields);
    expect(resolve(doc, doc.paths["/v1/tasks/{id}"].get.responses["200"].content["application/json"].schema)).toBe(
      task,
    );
  });

  test("every error answer is the contract's error body", () => {
    const errorBody = doc.components.schemas.ErrorBody;
    expect(errorBody.properties.error.required).toEqual(["code", "message", "details"]);
    for (const [method, path, op] of operations(doc)) {
      for (const [status, res] of Object.entries(op.responses as Json)) {
        if (Number(status) < 400 || (method === "get" && path === "/readyz")) continue;
        expect(res.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/ErrorBody" });
      }
    }
  });

  test("each operation says its scope, as bearer auth, and answers 401/403 where auth applies", () => {
    for (const [, path, op] of operations(doc)) {
      const scope = op["x-scope"];
      // Logging in is the one /v1 call made without a key; its 401 is for the key in its body.
      const login = path === "/v1/sessions";
      expect(["tasks:read", "tasks:write", "admin", "any", "none"]).toContain(scope);
      if (scope === "none") {
        expect(op.security).toEqual([]);
        if (!login) expect(op.responses["401"]).toBeUndefined();
      } else {
        expect(op.security).toEqual([{ bearerAuth: scope === "any" ? [] : [scope] }]);
        expect(op.responses["401"]).toBeDefined();
      }
      if (path.startsWith("/v1/") && !login) expect(scope).not.toBe("none");
    }
    expect(doc.paths["/v1/tasks"].post["x-scope"]).toBe("tasks:write");
    expect(doc.paths["/v1/task-types"].get["x-scope"]).toBe("tasks:read");
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
  });

  test("path and query parameters come from the path and the route's query schema", () => {
    const params = doc.paths["/v1/tasks/{id}"].get.parameters as Json[];
    expect(params.map((p) => [p.name, p.in, p.required])).toEqual([
      ["id", "path", true],
      ["waitMs", "query", false],
    ]);
    expect(params[1]?.schema).toMatchObject({ type: "integer", minimum: 0, maximum: 30_000 });
  });

  test("every $ref points at a component", () => {
    for (const ref of refsIn(doc)) resolve(doc, { $ref: ref });
  });
});

const Tree: z.ZodType = z.lazy(() => z.object({ label: z.string(), kids: z.array(Tree) }));

describe("buildOpenApiDocument", () => {
  const info = { title: "t", version: "0", description: "d" };
  const base: Operation = {
    method: "post",
    path: "/v1/things/{thingId}",
    operationId: "makeThing",
    tag: "tasks",
    summary: "s",
    scope: "admin",
    request: z.object({ data: z.json(), tree: Tree }),
    responses: { 201: z.object({ made: z.boolean() }) },
  };

  test("a new route is one entry: unnamed schemas are named after it, recursive ones still resolve", () => {
    const built = buildOpenApiDocument([base], info) as Json;
    const op = built.paths["/v1/things/{thingId}"].post;
    expect(op.requestBody.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/MakeThingBody" });
    expect(op.responses["201"].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/MakeThing201",
    });
    expect(op.parameters).toEqual([{ name: "thingId", in: "path", required: true, schema: { type: "string" } }]);
    expect(Object.keys(op.responses)).toEqual(["201", "400", "401", "403", "413", "415"]);
    for (const ref of refsIn(built)) resolve(built, { $ref: ref });
    expect(Object.keys(built.components.schemas).some((name) => name.includes("__shared"))).toBe(false);
  });

  test("mistakes in the list fail the build", () => {
    expect(() => buildOpenApiDocument([base, { ...base, operationId: "again" }], info)).toThrow("described twice");
    expect(() => buildOpenApiDocument([{ ...base, params: z.object({ nope: z.string() }) }], info)).toThrow(
      "not in /v1/things/{thingId}",
    );
  });
});

/** Just enough DOM for the docs script: elements that hold text and children. */
class FakeElement {
  children: FakeElement[] = [];
  className = "";
  id = "";
  href = "";
  textContent = "";
  constructor(readonly tag: string) {}
  append(...nodes: FakeElement[]) {
    this.children.push(...nodes);
  }
  all(): FakeElement[] {
    return [this, ...this.children.flatMap((c) => c.all())];
  }
  get text(): string {
    return [this.textContent, ...this.children.map((c) => c.text)].join(" ");
  }
}

describe("openApiRoutes", () => {
  const app = openApiRoutes();

  test("GET /openapi.json serves the document", async () => {
    const res = await app.request("/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  test("GET /docs is a self-contained HTML page that loads /openapi.json", async () => {
    const res = await app.request("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain("/openapi.json");
    const urls = [...html.matchAll(/\b(?:src|href)\s*=\s*["']?([^"'\s>]*)/gi)].map((m) => m[1] ?? "");
    for (const url of urls) expect(url).not.toMatch(/http|^\/\//i);
    expect(html).not.toMatch(/<script[^>]+src|<link[^>]+stylesheet|@import|url\(/i);
  });

  test("its CSP allows exactly its own inline script and style, and nothing from elsewhere", async () => {
    const res = await app.request("/docs");
    const csp = res.headers.get("content-security-policy") ?? "";
    const html = await res.text();
    const hash = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`script-src ${hash(script)}`);
    expect(csp).toContain(`style-src ${hash(style)}`);
    expect(csp).toContain("connect-src 'self'");
  });

  test("its script renders every operation from the document", async () => {
    const html = await (await app.request("/docs")).text();
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
    const byId = new Map(["nav", "ops", "title", "about", "auth"].map((id) => [id, new FakeElement("div")]));
    const document = {
      title: "",
      createElement: (tag: string) => new FakeElement(tag),
      getElementById: (id: string) => byId.get(id),
    };
    let fetched = "";
    const fetch = async (url: string) => {
      fetched = url;
      return { ok: true, status: 200, json: async () => JSON.parse(JSON.stringify(doc)) };
    };
    new Function("document", "fetch", script)(document, fetch);
    // The script's fetch chain settles in microtasks, all run before the next macrotask.
    await new Promise((resolve) => setImmediate(resolve));
    expect(fetched).toBe("/openapi.json");
    const ops = byId.get("ops") as FakeElement;
    expect(ops.all().filter((e) => e.className === "error")).toEqual([]);
    const cards = ops.all().filter((e) => e.className === "op");
    expect(cards).toHaveLength(operations(doc).length);
    const text = ops.text;
    for (const [, path, op] of operations(doc)) {
      expect(text).toContain(path);
      expect(text).toContain(op.summary);
    }
    // The request body's fields are drawn, through its $ref.
    const submit = cards.find((c) => c.id === "submitTask") as FakeElement;
    for (const field of ["type", "payload", "idempotencyKey", "No other fields are accepted."]) {
      expect(submit.text).toContain(field);
    }
    expect(document.title).toBe("Conveyor API");
  });
});
