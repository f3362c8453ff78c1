import { isUuid, NotFoundError, SCOPES, UnavailableError } from "@conveyor/core";
import type { ApiKey, KeyStore } from "@conveyor/db";
import { unstorable } from "@conveyor/scheduler";
import { Hono } from "hono";
import { z } from "zod";
import { type Authenticator, type AuthVars, requireScope } from "../auth/index.ts";
import { validate } from "../validate/index.ts";

/** PostgreSQL's `text` refuses U+0000 and unpaired surrogates: such a name is a 400, not a failed insert. */
const storable = (s: string) => unstorable(s, []) === null;

/** The body of `POST /v1/keys`. */
export const CreateKey = z.strictObject({
  tenant: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.' and '-' only")
    .describe("The tenant the key acts in; every task it submits belongs to it"),
  name: z.string().min(1).max(200).refine(storable, "no U+0000 or unpaired surrogate").describe("For people"),
  scopes: z
    .array(z.enum(SCOPES))
    .min(1)
    .refine((s) => new Set(s).size === s.length, "each scope at most once")
    .describe("`tasks:write` includes read; `admin` is every tenant and the admin routes"),
  rateLimit: z
    .strictObject({
      max: z.number().int().min(1).max(1_000_000),
      durationMs: z.number().int().min(1).max(86_400_000),
    })
    .nullable()
    .optional()
    .describe("At most `max` tasks submitted per sliding `durationMs`; left out or null: no limit"),
});

/** A key as `GET /v1/keys` shows it: never its secret or hash. */
function keyView(k: ApiKey) {
  return {
    id: k.id,
    tenant: k.tenant,
    name: k.name,
    scopes: k.scopes,
    rateLimit: k.rateLimit,
    createdAt: k.createdAt.toISOString(),
    revokedAt: k.revokedAt?.toISOString() ?? null,
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  };
}

/** The store, or 503 for an app built without one (it then knows only the bootstrap admin key). */
export function keyStoreOf(keys: KeyStore | undefined): KeyStore {
  if (!keys) throw new UnavailableError("this server keeps no API keys or sessions");
  return keys;
}

/** `/v1/keys` (admin): make keys (the secret is answered this once), list them, revoke them. */
export function keyRoutes(keys: KeyStore | undefined, auth: Authenticator) {
  const app = new Hono<{ Variables: AuthVars }>();
  app.use("*", requireScope("admin"));

  app.post("/", validate("json", CreateKey), async (c) => {
    const { tenant, name, scopes, rateLimit } = c.req.valid("json");
    const { row, key } = await keyStoreOf(keys).createKey({ tenant, name, scopes, rateLimit });
    return c.json(
      { id: row.id, key, tenant: row.tenant, name: row.name, scopes: row.scopes, rateLimit: row.rateLimit },
      201,
    );
  });

  app.get("/", async (c) => c.json({ keys: (await keyStoreOf(keys).listKeys()).map(keyView) }));

  app.delete("/:id", async (c) => {
    const id = c.req.param("id");
    if (!isUuid(id) || !(await keyStoreOf(keys).revokeKey(id))) throw new NotFoundError(`no key ${id}`);
    // Other processes drop their cached resolution within AUTH_CACHE_MS; this one at once.
    auth.forgetKey?.(id);
    return c.body(null, 204);
  });

  return app;
}
