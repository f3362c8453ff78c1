import { UnauthorizedError } from "@conveyor/core";
import { hashSecret, type KeyStore } from "@conveyor/db";
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { CookieOptions } from "hono/utils/cookie";
import { z } from "zod";
import { type Authenticator, type AuthVars, requireAuth, SESSION_COOKIE } from "../auth/index.ts";
import { jsonBody } from "../body/index.ts";
import { validate } from "../validate/index.ts";
import { keyStoreOf } from "./keys.ts";

/** How long a browser session lasts; it ends sooner when its key is revoked or on logout. */
export const SESSION_TTL_MS = 12 * 3_600_000;

/** The body of `POST /v1/sessions`. */
export const CreateSession = z.strictObject({
  apiKey: z.string().min(1).max(1024).describe("An API key, or the bootstrap admin key"),
});

/**
 * HTTPS as the client sees it: the URL, or the proxy in front saying so. Trusting the header
 * here can only add `Secure`, which never weakens the cookie.
 */
function isHttps(c: Context): boolean {
  if (new URL(c.req.url).protocol === "https:") return true;
  return c.req.header("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase() === "https";
}

/** `httpOnly` keeps it from scripts; `Strict` keeps other sites' pages from sending it (no CSRF). */
const cookieOptions = (c: Context): CookieOptions => ({
  path: "/",
  httpOnly: true,
  sameSite: "Strict",
  secure: isHttps(c),
});

/**
 * `/v1/sessions`: log in with an API key for a cookie (the browser's way to authenticate), and
 * log out. Mounted ahead of the API's auth middleware, since logging in is the one call made
 * without a key; logout requires auth itself.
 */
export function sessionRoutes(keys: KeyStore | undefined, auth: Authenticator, maxBodyBytes: number) {
  const app = new Hono<{ Variables: AuthVars }>();

  app.post("/", jsonBody(maxBodyBytes), validate("json", CreateSession), async (c) => {
    const store = keyStoreOf(keys);
    const principal = await auth.authenticate(c.req.valid("json").apiKey);
    if (!principal) throw new UnauthorizedError("the API key is not valid");
    const token = await store.createSession(principal.keyId, SESSION_TTL_MS);
    // Who logged in, for the middleware around the routes (the audit trail).
    c.set("principal", principal);
    setCookie(c, SESSION_COOKIE, token, { ...cookieOptions(c), maxAge: SESSION_TTL_MS / 1000 });
    return c.body(null, 204);
  });

  app.delete("/current", requireAuth(auth), async (c) => {
    const token = getCookie(c, SESSION_COOKIE);
    if (!token) throw new UnauthorizedError("there is no session cookie to end");
    await keyStoreOf(keys).revokeSession(hashSecret(token));
    auth.forgetSession?.(token);
    deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
    return c.body(null, 204);
  });

  return app;
}
