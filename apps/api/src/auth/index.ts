import { createHash, timingSafeEqual } from "node:crypto";
import { DEFAULT_TENANT, ForbiddenError, type Principal, type Scope, UnauthorizedError } from "@conveyor/core";
import type { MiddlewareHandler } from "hono";

/** Resolves a bearer token to who is calling, or null when it is not a valid key. */
export interface Authenticator {
  authenticate(token: string): Promise<Principal | null>;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/**
 * The bootstrap admin key (tenant `default`, every scope). Compared as SHA-256 digests with
 * `timingSafeEqual`, so the time taken says nothing about the key or its length.
 */
export function adminKeyAuthenticator(adminKey: string): Authenticator {
  const expected = sha256(adminKey);
  const admin: Principal = { tenant: DEFAULT_TENANT, name: "bootstrap admin", scopes: ["admin"], keyId: null };
  return {
    authenticate: async (token) => (timingSafeEqual(sha256(token), expected) ? admin : null),
  };
}

export type AuthVars = { principal: Principal };

/** Requires a valid bearer key; sets `principal`. */
export function requireAuth(auth: Authenticator): MiddlewareHandler<{ Variables: AuthVars }> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match?.[1]) throw new UnauthorizedError();
    const principal = await auth.authenticate(match[1]);
    if (!principal) throw new UnauthorizedError("the API key is not valid");
    c.set("principal", principal);
    await next();
  };
}

/** True when the principal holds `scope` (`admin` holds all; `tasks:write` includes read). */
export function hasScope(p: Principal, scope: Scope): boolean {
  if (p.scopes.includes("admin")) return true;
  if (scope === "tasks:read" && p.scopes.includes("tasks:write")) return true;
  return p.scopes.includes(scope);
}

export function requireScope(scope: Scope): MiddlewareHandler<{ Variables: AuthVars }> {
  return async (c, next) => {
    if (!hasScope(c.get("principal"), scope)) throw new ForbiddenError(`this key lacks the '${scope}' scope`);
    await next();
  };
}

/** The tenant a read is limited to: admin sees every tenant (null). */
export function tenantFilter(p: Principal): string | null {
  return p.scopes.includes("admin") ? null : p.tenant;
}
