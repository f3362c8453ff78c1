import { ForbiddenError, type Principal, type Scope } from "@conveyor/core";
import { type Authenticator, callerOf, hasScope, SESSION_COOKIE } from "@conveyor/scheduler";
import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";

export {
  AUTH_CACHE_MS,
  type Authenticator,
  type AuthenticatorOptions,
  adminKeyAuthenticator,
  createAuthenticator,
  hasScope,
  SESSION_COOKIE,
  tenantFilter,
} from "@conveyor/scheduler";

export type AuthVars = { principal: Principal };

/**
 * Requires a valid bearer key or session cookie; sets `principal`. An `Authorization` header,
 * when sent, decides alone: a bad key is refused even beside a good cookie, so a client never
 * acts as someone other than the key it sent.
 */
export function requireAuth(auth: Authenticator): MiddlewareHandler<{ Variables: AuthVars }> {
  return async (c, next) => {
    c.set("principal", await callerOf(auth, c.req.header("authorization"), getCookie(c, SESSION_COOKIE)));
    await next();
  };
}

export function requireScope(scope: Scope): MiddlewareHandler<{ Variables: AuthVars }> {
  return async (c, next) => {
    if (!hasScope(c.get("principal"), scope)) throw new ForbiddenError(`this key lacks the '${scope}' scope`);
    await next();
  };
}
