import { describe, expect, test } from "bun:test";
import { adminKeyAuthenticator, createApp } from "@conveyor/api";
import { createLogger, EnvError, parseEnv } from "@conveyor/core";
import { TaskCatalog } from "@conveyor/handlers";

const KEY = "headers-test-key-0123456789";
const ORIGIN = "https://monitor.example.com";

/** An app whose routes under test need no services (`/v1/whoami`, auth refusals, unknown routes). */
function app(corsOrigins?: string[]) {
  return createApp({
    scheduler: {} as never,
    queues: {} as never,
    catalog: new TaskCatalog(),
    nodes: {} as never,
    auth: adminKeyAuthenticator(KEY),
    log: createLogger("test", "silent"),
    maxBodyBytes: 1024,
    checks: {},
    corsOrigins,
  });
}

const auth = { authorization: `Bearer ${KEY}` };

describe("secure headers on /v1 answers", () => {
  const cases: [string, Record<string, string>, number][] = [
    ["/v1/whoami", auth, 200],
    ["/v1/whoami", {}, 401],
    ["/v1/no-such-route", auth, 404],
  ];
  for (const [path, headers, status] of cases) {
    test(`${status} from ${path}`, async () => {
      const res = await app().request(path, { headers });
      expect(res.status).toBe(status);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("cache-control")).toBe("no-store");
    });
  }
});

describe("CORS", () => {
  test("off without CORS_ORIGINS: no origin is allowed, a preflight gets no grant", async () => {
    const res = await app().request("/v1/whoami", { headers: { ...auth, origin: ORIGIN } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await app().request("/v1/tasks", {
      method: "OPTIONS",
      headers: { origin: ORIGIN, "access-control-request-method": "POST" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(preflight.status).toBe(401);
  });

  test("on for exactly the listed origins, with credentials", async () => {
    const cors = app([ORIGIN, "http://localhost:5173"]);
    const allowed = await cors.request("/v1/whoami", { headers: { ...auth, origin: ORIGIN } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
    expect(allowed.headers.get("vary")).toContain("Origin");
    expect(allowed.headers.get("access-control-expose-headers")).toContain("Retry-After");

    const other = await cors.request("/v1/whoami", { headers: { ...auth, origin: "https://evil.example.com" } });
    expect(other.status).toBe(200);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();

    const preflight = await cors.request("/v1/tasks", {
      method: "OPTIONS",
      headers: {
        origin: ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    expect(preflight.headers.get("x-frame-options")).toBe("DENY");
  });

  test("CORS_ORIGINS is a comma list of origins; anything else fails at start", () => {
    expect(parseEnv({ CORS_ORIGINS: ` ${ORIGIN}, http://localhost:5173 ,` }).CORS_ORIGINS).toEqual([
      ORIGIN,
      "http://localhost:5173",
    ]);
    expect(parseEnv({}).CORS_ORIGINS).toEqual([]);
    for (const bad of ["*", "monitor.example.com", `${ORIGIN}/`, `${ORIGIN}/path`]) {
      expect(() => parseEnv({ CORS_ORIGINS: bad })).toThrow(EnvError);
    }
  });
});
