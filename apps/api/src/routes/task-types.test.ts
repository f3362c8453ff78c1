import { describe, expect, test } from "bun:test";
import { createLogger, type Principal } from "@conveyor/core";
import { defineTaskType, TaskCatalog, type TaskType } from "@conveyor/handlers";
import { Hono } from "hono";
import { z } from "zod";
import type { AuthVars } from "../auth/index.ts";
import { errorHandler } from "../errors/index.ts";
import type { TaskTypeList } from "../openapi/schemas.ts";
import { describeTaskTypes, taskTypeRoutes } from "./task-types.ts";

const reader: Principal = { tenant: "default", name: "t", scopes: ["tasks:read"], keyId: null };

/** The sub-app as app.ts mounts it, behind a fake principal instead of real auth. */
function appFor(catalog: TaskCatalog, principal: Principal = reader) {
  const app = new Hono<{ Variables: AuthVars }>();
  app.onError(errorHandler(createLogger("test", "silent")));
  app.use("*", async (c, next) => {
    c.set("principal", principal);
    await next();
  });
  app.route("/v1/task-types", taskTypeRoutes(catalog));
  return app;
}

async function list(catalog: TaskCatalog): Promise<TaskTypeList> {
  const res = await appFor(catalog).request("/v1/task-types");
  expect(res.status).toBe(200);
  return (await res.json()) as TaskTypeList;
}

const payloadSchemaOf = (body: TaskTypeList, type: string) => {
  const entry = body.taskTypes.find((t) => t.type === type);
  if (!entry) throw new Error(`no entry for ${type}`);
  return entry.payloadSchema;
};

/** A zod schema rebuilt from the JSON Schema, to check what the JSON Schema accepts. */
const fromJson = (schema: Record<string, unknown>) =>
  z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);

describe("GET /v1/task-types", () => {
  test("every registered type converts to a JSON Schema object, with its description and defaults", async () => {
    const catalog = new TaskCatalog();
    const body = await list(catalog);
    expect(body.taskTypes.map((t) => t.type)).toEqual(catalog.types);
    for (const entry of body.taskTypes) {
      const type = catalog.get(entry.type);
      expect(entry.description).toBe(type.description);
      expect(typeof entry.payloadSchema).toBe("object");
      expect(entry.payloadSchema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
      const { timeoutMs, maxAttempts, backoff, priority, concurrency } = type.defaults;
      expect(entry.defaults).toEqual({ timeoutMs, maxAttempts, backoff, priority, concurrency });
    }
  });

  test("sleep's payload is {ms} with a maximum of 3600000", async () => {
    const schema = payloadSchemaOf(await list(new TaskCatalog()), "sleep");
    expect(schema).toMatchObject({
      type: "object",
      properties: { ms: { type: "integer", minimum: 0, maximum: 3_600_000 } },
      required: ["ms"],
    });
    const sleep = fromJson(schema);
    expect(sleep.safeParse({ ms: 3_600_000 }).success).toBe(true);
    expect(sleep.safeParse({ ms: 3_600_001 }).success).toBe(false);
    expect(sleep.safeParse({}).success).toBe(false);
  });

  test("echo's payload accepts any JSON", async () => {
    const schema = payloadSchemaOf(await list(new TaskCatalog()), "echo");
    const types = (schema.anyOf as { type: string }[]).map((s) => s.type).sort();
    expect(types).toEqual(["array", "boolean", "null", "number", "object", "string"]);
    const echo = fromJson(schema);
    for (const value of [null, true, 0, -1.5, "", "text", [], [1, "a", null], {}, { a: { b: [{ c: false }] } }]) {
      expect(echo.safeParse(value).success).toBe(true);
    }
  });

  test("a type zod cannot fully express still answers, the inexpressible part left open", async () => {
    const when = defineTaskType({
      type: "at_time",
      description: "has a date",
      schema: z.object({ at: z.date(), label: z.string() }),
      run: async () => null,
    });
    // Not a zod schema at all: conversion throws, and the route must still answer.
    const broken = { ...when, type: "broken", schema: {} as z.ZodType } as TaskType;
    const body = await list(new TaskCatalog([when as TaskType, broken]));
    expect(payloadSchemaOf(body, "at_time")).toMatchObject({
      properties: { at: {}, label: { type: "string" } },
      required: ["at", "label"],
    });
    expect(payloadSchemaOf(body, "broken")).toEqual({ description: expect.stringContaining("cannot be described") });
  });

  test("the description is computed once per catalog", async () => {
    const catalog = new TaskCatalog();
    expect(describeTaskTypes(catalog)).toBe(describeTaskTypes(catalog));
    expect(describeTaskTypes(new TaskCatalog())).not.toBe(describeTaskTypes(catalog));
    const app = appFor(catalog);
    const [a, b] = await Promise.all([app.request("/v1/task-types"), app.request("/v1/task-types")]);
    expect(await a.text()).toBe(await b.text());
  });

  test("a key without tasks:read gets 403 in the contract's error shape", async () => {
    const res = await appFor(new TaskCatalog(), { ...reader, scopes: [] }).request("/v1/task-types");
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: { code: "forbidden", message: expect.stringContaining("tasks:read"), details: [] },
    });
  });

  test("tasks:write and admin include the read scope", async () => {
    for (const scopes of [["tasks:write"], ["admin"]] as Principal["scopes"][]) {
      const res = await appFor(new TaskCatalog(), { ...reader, scopes }).request("/v1/task-types");
      expect(res.status).toBe(200);
    }
  });
});
