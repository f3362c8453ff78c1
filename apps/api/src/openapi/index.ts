import { Hono } from "hono";
import pkg from "../../package.json" with { type: "json" };
import { DOCS_CSP, DOCS_HTML } from "./docs-page.ts";
import { buildOpenApiDocument } from "./document.ts";
import { OPERATIONS } from "./operations.ts";

let built: object | undefined;

/** The API's OpenAPI 3.1 document, generated from the routes' zod schemas on first use and kept. */
export function openApiDocument(): object {
  built ??= buildOpenApiDocument(OPERATIONS, {
    title: "Conveyor API",
    version: pkg.version,
    description: "A distributed task scheduler: submit tasks, follow them, see what can be submitted.",
  });
  return built;
}

/** `GET /openapi.json` and `GET /docs` (rendered locally, no external asset); mount at `/` without auth. */
export function openApiRoutes() {
  const app = new Hono();
  app.get("/openapi.json", (c) => c.json(openApiDocument()));
  app.get("/docs", (c) => {
    c.header("Content-Security-Policy", DOCS_CSP);
    return c.html(DOCS_HTML);
  });
  return app;
}
