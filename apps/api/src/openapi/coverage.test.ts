import { describe, expect, test } from "bun:test";
import { createLogger } from "@conveyor/core";
import { TaskCatalog } from "@conveyor/handlers";
import { createApp } from "../app.ts";
import { adminKeyAuthenticator } from "../auth/index.ts";
import { OPERATIONS } from "./operations.ts";

// The document and the router must list the same routes: a route added without its entry (or
// an entry left behind by a removed route) fails here. Only the route table is read, so the
// services behind the routes are never called.
describe("OpenAPI coverage", () => {
  const app = createApp({
    scheduler: {} as never,
    queues: {} as never,
    catalog: new TaskCatalog(),
    nodes: {} as never,
    auth: adminKeyAuthenticator("coverage-test-key-0123456789"),
    log: createLogger("test", "silent"),
    maxBodyBytes: 1024,
    checks: {},
  });
  const served = new Set(
    app.routes
      .filter((r) => r.method !== "ALL")
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}").replace(/\/$/, "") || "/"}`),
  );
  const documented = new Set(OPERATIONS.map((o) => `${o.method} ${o.path}`));

  test("every documented operation is served", () => {
    expect([...documented].filter((d) => !served.has(d))).toEqual([]);
  });
  test("every served route is documented", () => {
    expect([...served].filter((s) => !documented.has(s))).toEqual([]);
  });
});
