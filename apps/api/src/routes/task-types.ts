import type { TaskCatalog, TaskType } from "@conveyor/handlers";
import { Hono } from "hono";
import { z } from "zod";
import { type AuthVars, requireScope } from "../auth/index.ts";
import type { TaskTypeInfo, TaskTypeList } from "../openapi/schemas.ts";

/**
 * The JSON Schema of what a submission's payload must be (`input`: before defaults and
 * transforms). A part zod cannot express (a date, a custom check) becomes `{}`, which accepts
 * anything, rather than failing: the schema tells clients what to send, and the server still
 * checks every payload with the zod schema itself, so a part left open only means a client-side
 * check lets through what the server answers with a 400.
 */
function payloadSchema(type: TaskType): Record<string, unknown> {
  try {
    return z.toJSONSchema(type.schema, { io: "input", unrepresentable: "any" });
  } catch {
    // Nothing expected gets here with `unrepresentable: "any"`; a type must still not take the
    // whole route (or the API's start) down with it.
    return { description: "This payload cannot be described as JSON Schema; it is checked on submit." };
  }
}

function taskTypeInfo(type: TaskType): TaskTypeInfo {
  const { timeoutMs, maxAttempts, backoff, priority, concurrency } = type.defaults;
  return {
    type: type.type,
    description: type.description,
    payloadSchema: payloadSchema(type),
    defaults: { timeoutMs, maxAttempts, backoff, priority, concurrency },
  };
}

// A catalog's types never change after it is built, so their description is made once per catalog.
const described = new WeakMap<TaskCatalog, TaskTypeList>();

/** The answer of `GET /v1/task-types` for a catalog, computed once per catalog. */
export function describeTaskTypes(catalog: TaskCatalog): TaskTypeList {
  let list = described.get(catalog);
  if (!list) {
    list = { taskTypes: catalog.all().map(taskTypeInfo) };
    described.set(catalog, list);
  }
  return list;
}

/** `/v1/task-types`: what can be submitted, with each payload's JSON Schema and the type's defaults. */
export function taskTypeRoutes(catalog: TaskCatalog) {
  const list = describeTaskTypes(catalog);
  const app = new Hono<{ Variables: AuthVars }>();
  app.get("/", requireScope("tasks:read"), (c) => c.json(list));
  return app;
}
