import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { apiDepsFromRuntime, createApp } from "@conveyor/api";
import { createLogger } from "@conveyor/core";
import { createTestStack, eventually, TEST_ADMIN_KEY, type TestStack } from "../harness/index.ts";

type ErrorBody = { error: { code: string; message: string; details: unknown[] } };
type CreatedKey = {
  id: string;
  key: string;
  tenant: string;
  name: string;
  scopes: string[];
  rateLimit: { max: number; durationMs: number } | null;
};
type ListedKey = Omit<CreatedKey, "key"> & { createdAt: string; revokedAt: string | null; lastUsedAt: string | null };

const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");
const KEY_SHAPE = /^cvk_[A-Za-z0-9_-]{43}$/;
const TWELVE_HOURS_S = 12 * 3600;

async function expectError(res: Response, status: number, code: string): Promise<ErrorBody> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as ErrorBody;
  expect(Object.keys(body)).toEqual(["error"]);
  expect(Object.keys(body.error).sort()).toEqual(["code", "details", "message"]);
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(Array.isArray(body.error.details)).toBe(true);
  return body;
}

/** The `conveyor_session` cookie a response sets: its value and its attributes, lower-cased. */
function sessionCookie(res: Response): { value: string; attrs: Map<string, string> } {
  const header = res.headers.getSetCookie().find((c) => c.startsWith("conveyor_session="));
  if (!header) throw new Error(`no session cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
  const [pair, ...rest] = header.split(";").map((p) => p.trim());
  const attrs = new Map(
    rest.map((a) => {
      const [k, ...v] = a.split("=");
      return [(k as string).toLowerCase(), v.join("=")] as [string, string];
    }),
  );
  return { value: (pair as string).slice("conveyor_session=".length), attrs };
}

describe("API keys and sessions", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await createTestStack({ label: "keys_sessions" });
  });
  afterAll(() => stack?.close());

  /** A request with any headers (a cookie, a forwarded protocol); no key unless one is given. */
  function call(
    method: string,
    path: string,
    opts: { body?: unknown; key?: string; cookie?: string; headers?: Record<string, string>; url?: string } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    if (opts.cookie) headers.cookie = `conveyor_session=${opts.cookie}`;
    if (opts.body !== undefined) headers["content-type"] ??= "application/json";
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    return Promise.resolve(stack.app.request(opts.url ?? path, { method, headers, body }));
  }

  async function createKey(body: Record<string, unknown>): Promise<CreatedKey> {
    const res = await stack.request("POST", "/v1/keys", body);
    expect(res.status).toBe(201);
    return (await res.json()) as CreatedKey;
  }

  async function login(apiKey: string, opts: { headers?: Record<string, string>; url?: string } = {}) {
    const res = await call("POST", "/v1/sessions", { body: { apiKey }, ...opts });
    expect(res.status).toBe(204);
    return { res, token: sessionCookie(res).value };
  }

  const whoami = async (auth: { key?: string; cookie?: string }) => {
    const res = await call("GET", "/v1/whoami", auth);
    return { status: res.status, body: res.status === 200 ? await res.json() : null };
  };

  describe("making keys", () => {
    test("the admin makes a key: 201 with its secret, its tenant, name, scopes and rate limit", async () => {
      const made = await createKey({
        tenant: "acme",
        name: "ci pipeline",
        scopes: ["tasks:write"],
        rateLimit: { max: 100, durationMs: 60_000 },
      });
      expect(Object.keys(made).sort()).toEqual(["id", "key", "name", "rateLimit", "scopes", "tenant"]);
      expect(made).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        key: expect.stringMatching(KEY_SHAPE),
        tenant: "acme",
        name: "ci pipeline",
        scopes: ["tasks:write"],
        rateLimit: { max: 100, durationMs: 60_000 },
      });
      const other = await createKey({ tenant: "acme", name: "ci pipeline", scopes: ["tasks:write"] });
      expect(other.key).not.toBe(made.key);
      expect(other.rateLimit).toBeNull();
    });

    test("only the admin scope may: a tasks:write or tasks:read key gets 403, no key 401", async () => {
      const writer = await createKey({ tenant: "acme", name: "writer", scopes: ["tasks:write"] });
      const reader = await createKey({ tenant: "acme", name: "reader", scopes: ["tasks:read"] });
      const body = { tenant: "acme", name: "escalate", scopes: ["admin"] };
      for (const key of [writer.key, reader.key]) {
        await expectError(await stack.request("POST", "/v1/keys", body, key), 403, "forbidden");
        await expectError(await stack.request("GET", "/v1/keys", undefined, key), 403, "forbidden");
        await expectError(await stack.request("DELETE", `/v1/keys/${writer.id}`, undefined, key), 403, "forbidden");
      }
      await expectError(await stack.request("POST", "/v1/keys", body, null), 401, "unauthorized");
      // The refused calls changed nothing: the writer still works.
      expect((await whoami({ key: writer.key })).status).toBe(200);
    });

    test("a key made by an admin key of another tenant (not the bootstrap one) works the same", async () => {
      const ops = await createKey({ tenant: "ops", name: "second admin", scopes: ["admin"] });
      const res = await stack.request(
        "POST",
        "/v1/keys",
        { tenant: "beta", name: "b", scopes: ["tasks:read"] },
        ops.key,
      );
      expect(res.status).toBe(201);
    });

    test("a bad body is 400 with a detail at its path, and makes no key", async () => {
      const before = ((await (await stack.request("GET", "/v1/keys")).json()) as { keys: unknown[] }).keys.length;
      const cases: [Record<string, unknown>, (string | number)[]][] = [
        [{ tenant: "has space", name: "n", scopes: ["tasks:read"] }, ["tenant"]],
        [{ tenant: "", name: "n", scopes: ["tasks:read"] }, ["tenant"]],
        [{ tenant: "t".repeat(101), name: "n", scopes: ["tasks:read"] }, ["tenant"]],
        [{ tenant: "t", name: "", scopes: ["tasks:read"] }, ["name"]],
        [{ tenant: "t", name: "n".repeat(201), scopes: ["tasks:read"] }, ["name"]],
        [{ tenant: "t", name: "nul\u0000", scopes: ["tasks:read"] }, ["name"]],
        [{ tenant: "t", name: "n", scopes: [] }, ["scopes"]],
        [{ tenant: "t", name: "n", scopes: ["root"] }, ["scopes", 0]],
        [{ tenant: "t", name: "n", scopes: ["admin", "admin"] }, ["scopes"]],
        [{ tenant: "t", name: "n", scopes: ["admin"], rateLimit: { max: 0, durationMs: 1000 } }, ["rateLimit", "max"]],
        [{ tenant: "t", name: "n" }, ["scopes"]],
      ];
      for (const [body, path] of cases) {
        const err = await expectError(await stack.request("POST", "/v1/keys", body), 400, "validation_failed");
        expect({ body, paths: (err.error.details as { path: unknown[] }[]).map((d) => d.path) }).toEqual({
          body,
          paths: expect.arrayContaining([path]),
        });
      }
      const extra = { tenant: "t", name: "n", scopes: ["admin"], keyHash: "x" };
      await expectError(await stack.request("POST", "/v1/keys", extra), 400, "validation_failed");
      const after = ((await (await stack.request("GET", "/v1/keys")).json()) as { keys: unknown[] }).keys.length;
      expect(after).toBe(before);
    });
  });

  describe("the secret is shown once", () => {
    test("GET /v1/keys lists keys without secret or hash", async () => {
      const made = await createKey({ tenant: "acme", name: "listed", scopes: ["tasks:read", "tasks:write"] });
      const res = await stack.request("GET", "/v1/keys");
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toContain(made.key);
      expect(text).not.toContain(sha256Hex(made.key));
      const { keys } = JSON.parse(text) as { keys: ListedKey[] };
      const listed = keys.find((k) => k.id === made.id);
      expect(listed).toEqual({
        id: made.id,
        tenant: "acme",
        name: "listed",
        scopes: ["tasks:read", "tasks:write"],
        rateLimit: null,
        createdAt: expect.any(String),
        revokedAt: null,
        lastUsedAt: null,
      });
      for (const k of keys) {
        expect(Object.keys(k).sort()).toEqual(
          ["createdAt", "id", "lastUsedAt", "name", "rateLimit", "revokedAt", "scopes", "tenant"].sort(),
        );
      }
    });

    test("PostgreSQL holds a 64-hex SHA-256 of the key and the secret nowhere", async () => {
      const made = await createKey({ tenant: "acme", name: "hashed", scopes: ["tasks:write"] });
      const [row] = await stack.runtime.pg.sql<{ key_hash: string }[]>`
        select key_hash from api_keys where id = ${made.id}`;
      expect(row?.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(row?.key_hash).toBe(sha256Hex(made.key));
      const secretPart = made.key.slice("cvk_".length);
      const rows = await stack.runtime.pg.sql<{ row: string }[]>`select row_to_json(k)::text as row from api_keys k`;
      for (const r of rows) {
        expect(r.row).not.toContain(made.key);
        expect(r.row).not.toContain(secretPart);
      }
    });
  });

  describe("who a key is", () => {
    test("whoami answers each key's tenant, name and scopes; the bootstrap key is the default tenant's admin", async () => {
      const a = await createKey({ tenant: "tenant-a", name: "a writer", scopes: ["tasks:write"] });
      const b = await createKey({ tenant: "tenant.b_2", name: "b reader", scopes: ["tasks:read"] });
      expect(await whoami({ key: a.key })).toEqual({
        status: 200,
        body: { tenant: "tenant-a", name: "a writer", scopes: ["tasks:write"] },
      });
      expect(await whoami({ key: b.key })).toEqual({
        status: 200,
        body: { tenant: "tenant.b_2", name: "b reader", scopes: ["tasks:read"] },
      });
      expect(await whoami({ key: TEST_ADMIN_KEY })).toEqual({
        status: 200,
        body: { tenant: "default", name: "bootstrap admin", scopes: ["admin"] },
      });
    });

    test("a key that is almost right is 401", async () => {
      const a = await createKey({ tenant: "acme", name: "near", scopes: ["tasks:read"] });
      for (const wrong of [`${a.key}x`, a.key.slice(0, -1), a.key.toUpperCase(), sha256Hex(a.key)]) {
        await expectError(await call("GET", "/v1/whoami", { key: wrong }), 401, "unauthorized");
      }
    });

    test("using a key records lastUsedAt", async () => {
      const a = await createKey({ tenant: "acme", name: "used", scopes: ["tasks:read"] });
      expect((await whoami({ key: a.key })).status).toBe(200);
      await eventually(
        async () => {
          const { keys } = (await (await stack.request("GET", "/v1/keys")).json()) as { keys: ListedKey[] };
          return keys.find((k) => k.id === a.id)?.lastUsedAt ?? undefined;
        },
        { timeoutMs: 5000, what: "lastUsedAt to be set" },
      );
    });
  });

  describe("revoking", () => {
    test("DELETE answers 204; the next request with the key is 401; the list shows revokedAt", async () => {
      const a = await createKey({ tenant: "acme", name: "to revoke", scopes: ["tasks:write"] });
      // Used first, so a cached resolution exists and must not outlive the revocation.
      expect((await whoami({ key: a.key })).status).toBe(200);
      const res = await stack.request("DELETE", `/v1/keys/${a.id}`);
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");
      await eventually(async () => (await whoami({ key: a.key })).status === 401, {
        timeoutMs: 5000,
        what: "the revoked key to be refused",
      });
      await expectError(
        await call("POST", "/v1/tasks", { key: a.key, body: { type: "echo", payload: 1 } }),
        401,
        "unauthorized",
      );
      const { keys } = (await (await stack.request("GET", "/v1/keys")).json()) as { keys: ListedKey[] };
      const listed = keys.find((k) => k.id === a.id);
      expect(listed?.revokedAt).toEqual(expect.any(String));
      // Revoking again is no error and keeps the first time.
      expect((await stack.request("DELETE", `/v1/keys/${a.id}`)).status).toBe(204);
      const again = (await (await stack.request("GET", "/v1/keys")).json()) as { keys: ListedKey[] };
      expect(again.keys.find((k) => k.id === a.id)?.revokedAt).toBe(listed?.revokedAt as string);
    });

    test("another API process that cached the key refuses it within 5 s", async () => {
      const a = await createKey({ tenant: "acme", name: "cached elsewhere", scopes: ["tasks:read"] });
      // A second app over the same database, with its own authenticator and cache: another process.
      const other = createApp(
        apiDepsFromRuntime(stack.runtime, {
          adminKey: TEST_ADMIN_KEY,
          log: createLogger("test", "silent"),
          maxBodyBytes: 1_048_576,
        }),
      );
      const ask = async () =>
        (await other.request("/v1/whoami", { headers: { authorization: `Bearer ${a.key}` } })).status;
      expect(await ask()).toBe(200);
      expect((await stack.request("DELETE", `/v1/keys/${a.id}`)).status).toBe(204);
      const started = Date.now();
      await eventually(async () => (await ask()) === 401, { timeoutMs: 5000, what: "the other process to refuse" });
      expect(Date.now() - started).toBeLessThan(5000);
    });

    test("an unknown or malformed key id is 404", async () => {
      await expectError(await stack.request("DELETE", `/v1/keys/${crypto.randomUUID()}`), 404, "not_found");
      await expectError(await stack.request("DELETE", "/v1/keys/not-a-uuid"), 404, "not_found");
    });
  });

  describe("sessions", () => {
    test("login sets an HttpOnly, SameSite=Strict cookie for 12 h; PostgreSQL keeps only its hash", async () => {
      const a = await createKey({ tenant: "acme", name: "browser", scopes: ["tasks:write"] });
      const { res, token } = await login(a.key);
      expect(await res.text()).toBe("");
      const { attrs } = sessionCookie(res);
      expect(attrs.has("httponly")).toBe(true);
      expect(attrs.get("samesite")).toBe("Strict");
      expect(attrs.get("path")).toBe("/");
      expect(attrs.get("max-age")).toBe(String(TWELVE_HOURS_S));
      expect(attrs.has("secure")).toBe(false);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(token).not.toBe(a.key);
      const rows = await stack.runtime.pg.sql<{ token_hash: string; key_id: string; row: string }[]>`
        select token_hash, key_id, row_to_json(s)::text as row from sessions s where token_hash = ${sha256Hex(token)}`;
      expect(rows).toHaveLength(1);
      expect(rows[0]?.key_id).toBe(a.id);
      expect(rows[0]?.row).not.toContain(token);
    });

    test("over HTTPS (the URL, or X-Forwarded-Proto from a proxy) the cookie is also Secure", async () => {
      const a = await createKey({ tenant: "acme", name: "https", scopes: ["tasks:read"] });
      const proxied = await login(a.key, { headers: { "x-forwarded-proto": "https" } });
      expect(sessionCookie(proxied.res).attrs.has("secure")).toBe(true);
      const direct = await login(a.key, { url: "https://conveyor.example/v1/sessions" });
      expect(sessionCookie(direct.res).attrs.has("secure")).toBe(true);
    });

    test("the cookie authenticates a task route as its key, in its key's tenant", async () => {
      const a = await createKey({ tenant: "cookie-tenant", name: "cookie user", scopes: ["tasks:write"] });
      const { token } = await login(a.key);
      expect(await whoami({ cookie: token })).toEqual({
        status: 200,
        body: { tenant: "cookie-tenant", name: "cookie user", scopes: ["tasks:write"] },
      });
      const submitted = await call("POST", "/v1/tasks", { cookie: token, body: { type: "echo", payload: { x: 1 } } });
      expect(submitted.status).toBe(202);
      const task = (await submitted.json()) as { id: string; tenant: string };
      expect(task.tenant).toBe("cookie-tenant");
      expect((await call("GET", `/v1/tasks/${task.id}`, { cookie: token })).status).toBe(200);
      // Scopes still apply to a session.
      await expectError(await call("GET", "/v1/queues", { cookie: token }), 403, "forbidden");
    });

    test("logout answers 204, clears the cookie, and the session is 401 from then on", async () => {
      const a = await createKey({ tenant: "acme", name: "logout", scopes: ["tasks:read"] });
      const { token } = await login(a.key);
      expect((await whoami({ cookie: token })).status).toBe(200);
      const out = await call("DELETE", "/v1/sessions/current", { cookie: token });
      expect(out.status).toBe(204);
      const cleared = sessionCookie(out);
      expect(cleared.value).toBe("");
      expect(cleared.attrs.get("max-age")).toBe("0");
      await expectError(await call("GET", "/v1/whoami", { cookie: token }), 401, "unauthorized");
      // The key itself is untouched.
      expect((await whoami({ key: a.key })).status).toBe(200);
      const [row] = await stack.runtime.pg.sql<{ revoked_at: Date | null }[]>`
        select revoked_at from sessions where token_hash = ${sha256Hex(token)}`;
      expect(row?.revoked_at).not.toBeNull();
    });

    test("revoking a key ends its sessions", async () => {
      const a = await createKey({ tenant: "acme", name: "revoked with sessions", scopes: ["tasks:write"] });
      const first = await login(a.key);
      const second = await login(a.key);
      for (const s of [first, second]) expect((await whoami({ cookie: s.token })).status).toBe(200);
      expect((await stack.request("DELETE", `/v1/keys/${a.id}`)).status).toBe(204);
      for (const s of [first, second]) {
        await eventually(async () => (await whoami({ cookie: s.token })).status === 401, {
          timeoutMs: 5000,
          what: "the revoked key's session to be refused",
        });
      }
      // And no new session can be made with it.
      await expectError(await call("POST", "/v1/sessions", { body: { apiKey: a.key } }), 401, "unauthorized");
    });

    test("a session made with the bootstrap admin key is the admin", async () => {
      const { token } = await login(TEST_ADMIN_KEY);
      expect(await whoami({ cookie: token })).toEqual({
        status: 200,
        body: { tenant: "default", name: "bootstrap admin", scopes: ["admin"] },
      });
      expect((await call("GET", "/v1/queues", { cookie: token })).status).toBe(200);
      expect((await call("GET", "/v1/keys", { cookie: token })).status).toBe(200);
      const [row] = await stack.runtime.pg.sql<{ key_id: string | null }[]>`
        select key_id from sessions where token_hash = ${sha256Hex(token)}`;
      expect(row).toEqual({ key_id: null });
    });

    test("a bad key at login is 401 in the error shape and sets no cookie; a bad body is 400", async () => {
      for (const apiKey of ["cvk_nope", `${TEST_ADMIN_KEY}x`]) {
        const res = await call("POST", "/v1/sessions", { body: { apiKey } });
        expect(res.headers.getSetCookie()).toEqual([]);
        await expectError(res, 401, "unauthorized");
      }
      await expectError(await call("POST", "/v1/sessions", { body: {} }), 400, "validation_failed");
      await expectError(await call("POST", "/v1/sessions", { body: { apiKey: 7 } }), 400, "validation_failed");
      await expectError(
        await call("POST", "/v1/sessions", { body: "x", headers: { "content-type": "text/plain" } }),
        415,
        "unsupported_media_type",
      );
    });

    test("an expired session is 401", async () => {
      const a = await createKey({ tenant: "acme", name: "expiring", scopes: ["tasks:read"] });
      const { token } = await login(a.key);
      await stack.runtime.pg.sql`
        update sessions set expires_at = now() - interval '1 second' where token_hash = ${sha256Hex(token)}`;
      await expectError(await call("GET", "/v1/whoami", { cookie: token }), 401, "unauthorized");
    });

    test("an unknown cookie is 401; a bad bearer key beside a good cookie is 401 (the header decides)", async () => {
      await expectError(await call("GET", "/v1/whoami", { cookie: "not-a-session" }), 401, "unauthorized");
      const a = await createKey({ tenant: "acme", name: "both", scopes: ["tasks:read"] });
      const { token } = await login(a.key);
      await expectError(await call("GET", "/v1/whoami", { cookie: token, key: "cvk_wrong" }), 401, "unauthorized");
    });

    test("logout needs a session: without a cookie it is 401", async () => {
      await expectError(await call("DELETE", "/v1/sessions/current"), 401, "unauthorized");
      await expectError(await call("DELETE", "/v1/sessions/current", { key: TEST_ADMIN_KEY }), 401, "unauthorized");
    });
  });
});
